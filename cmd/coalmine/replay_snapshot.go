package main

import (
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"github.com/coalmine-dev/coalmine/workflows"
)

// snapshot is a worker interceptor for a replay that keeps what the
// replayed workflow would answer once its history is used up: its status
// query's answer and its current details.
//
// It starts one extra coroutine in the workflow that waits on a condition
// that is never true. The SDK evaluates that condition in every round in
// which it runs the workflow's coroutines, one at a time, until none of
// them moves; so the last evaluation sees the state the workflow blocked
// in. A coroutine and a condition add no command, so the replay still
// checks the history as a worker would.
type snapshot struct {
	interceptor.WorkerInterceptorBase
	// statusQuery is the status query's handler, as the workflow set it.
	statusQuery func() (workflows.Status, error)
	status      workflows.Status
	details     string
	// taken is set once the status was read.
	taken bool
}

// InterceptWorkflow wraps the replayed workflow.
func (s *snapshot) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &snapshotInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, s: s}
}

// take reads the status and the current details; it runs inside the
// workflow, between its coroutines' steps.
func (s *snapshot) take(ctx workflow.Context) {
	s.details = workflow.GetCurrentDetails(ctx)
	if s.statusQuery == nil {
		return
	}
	if st, err := s.statusQuery(); err == nil {
		s.status, s.taken = st, true
	}
}

type snapshotInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	s *snapshot
}

func (i *snapshotInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&snapshotOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, s: i.s})
}

func (i *snapshotInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	workflow.Go(ctx, func(ctx workflow.Context) {
		_ = workflow.Await(ctx, func() bool {
			i.s.take(ctx)
			return false
		})
	})
	return i.Next.ExecuteWorkflow(ctx, in)
}

// snapshotOutbound keeps the status query's handler when the workflow
// sets it.
type snapshotOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	s *snapshot
}

func (o *snapshotOutbound) SetQueryHandler(ctx workflow.Context, queryType string, handler any) error {
	if h, ok := handler.(func() (workflows.Status, error)); ok && queryType == workflows.QueryStatus {
		o.s.statusQuery = h
	}
	return o.Next.SetQueryHandler(ctx, queryType, handler)
}
