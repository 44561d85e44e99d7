package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"

	"github.com/coalmine-dev/coalmine/workflows"
)

// row is the figures of one run.
type row struct {
	n                                int
	plan                             string
	startTime, elapsed               time.Duration
	promoted                         int
	serverCPU, workerCPU, gatewayCPU time.Duration
	// dbCPU is PostgreSQL's CPU with -server postgres, else 0.
	dbCPU        time.Duration
	workerRSS    int64
	aborts       []time.Duration
	abortsMissed int
	load         string
	// stolen is the share of the machine's CPU its hypervisor gave to
	// other guests during the run, as the function stolen prints it.
	stolen string
	looks  int64
	hist   histFigures
}

// histFigures are counted from the histories of the promoted-plan rollouts.
type histFigures struct {
	rollouts, neverRan  int
	tasks, events       int
	activities          map[string]int
	firstTask, lateness []time.Duration
	// taskFailures counts failed and timed-out workflow tasks; firstFailure
	// is the first failure's cause and message.
	taskFailures int
	firstFailure string
	// slowest is the history whose first workflow task waited longest.
	slowest []*historypb.HistoryEvent
}

// collect reads the history of every rollout that was to be promoted.
// With a folder to keep, the first one's history is written there as history.json.
func collect(ctx context.Context, c client.Client, rs []rollout, keepDir string) (histFigures, error) {
	h := histFigures{activities: map[string]int{}}
	var mu sync.Mutex
	var firstErr error
	wrote := false
	eachPromoted(rs, 8, func(r rollout) {
		evs, err := history(ctx, c, workflows.WorkflowID(r.app))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			return
		}
		h.add(evs)
		if keepDir != "" && !wrote {
			wrote = true
			firstErr = cmp.Or(firstErr, writeHistory(filepath.Join(keepDir, "history.json"), evs))
		}
	})
	if keepDir != "" && h.slowest != nil {
		firstErr = cmp.Or(firstErr, writeHistory(filepath.Join(keepDir, "history-slowest-first-task.json"), h.slowest))
	}
	return h, firstErr
}

func history(ctx context.Context, c client.Client, id string) ([]*historypb.HistoryEvent, error) {
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var evs []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", id, err)
		}
		evs = append(evs, e)
	}
	return evs, nil
}

func writeHistory(path string, evs []*historypb.HistoryEvent) error {
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&historypb.History{Events: evs})
	if err != nil {
		return fmt.Errorf("encode history: %w", err)
	}
	return os.WriteFile(path, b, 0o600)
}

// add counts one rollout's history: workflow tasks, activities, events,
// the delay until its first workflow task started, and for every timer
// that fired and every look that waited in its activity for its due time
// (MeasureInput.NotBefore) how long after it was due the workflow task
// that saw it started.
func (h *histFigures) add(evs []*historypb.HistoryEvent) {
	h.rollouts++
	h.events += len(evs)
	var started time.Time
	due := map[int64]time.Time{}
	var pending []time.Time // fired timers' and answered looks' due times, waiting for the next task
	first := true
	for _, e := range evs {
		t := e.GetEventTime().AsTime()
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			started = t
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			if first {
				if d := t.Sub(started); h.slowest == nil || d > slices.Max(h.firstTask) {
					h.slowest = evs
				}
				h.firstTask = append(h.firstTask, t.Sub(started))
				first = false
			}
			for _, d := range pending {
				h.lateness = append(h.lateness, max(t.Sub(d), 0))
			}
			pending = pending[:0]
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			h.tasks++
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
			h.taskFailures++
			if a := e.GetWorkflowTaskFailedEventAttributes(); h.firstFailure == "" {
				h.firstFailure = a.GetCause().String() + ": " + a.GetFailure().GetMessage()
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			h.taskFailures++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			a := e.GetActivityTaskScheduledEventAttributes()
			h.activities[a.GetActivityType().GetName()]++
			if nb := notBefore(a.GetInput().GetPayloads()); !nb.IsZero() {
				due[e.GetEventId()] = nb
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if d, ok := due[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; ok {
				pending = append(pending, d)
			}
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			a := e.GetTimerStartedEventAttributes()
			due[e.GetEventId()] = t.Add(a.GetStartToFireTimeout().AsDuration())
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			if d, ok := due[e.GetTimerFiredEventAttributes().GetStartedEventId()]; ok {
				pending = append(pending, d)
			}
		}
	}
	if first {
		h.neverRan++
	}
}

// notBefore is the due time of a look that waits in its activity, read
// from the activity's input (api.MeasureInput or api.MeasureLooksInput);
// zero for other activities.
func notBefore(in []*commonpb.Payload) time.Time {
	if len(in) == 0 {
		return time.Time{}
	}
	var v struct {
		NotBefore time.Time `json:"notBefore"`
	}
	if json.Unmarshal(in[0].GetData(), &v) != nil {
		return time.Time{}
	}
	return v.NotBefore
}

func (h histFigures) perRollout(v int) string {
	if h.rollouts == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", float64(v)/float64(h.rollouts))
}

func (h histFigures) activityCount() int {
	n := 0
	for _, v := range h.activities {
		n += v
	}
	return n
}

// activityMix is the activities per rollout by type, most first.
func (h histFigures) activityMix() string {
	type kv struct {
		k string
		v int
	}
	var kvs []kv
	for k, v := range h.activities {
		kvs = append(kvs, kv{k, v})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].v > kvs[j].v || kvs[i].v == kvs[j].v && kvs[i].k < kvs[j].k })
	var parts []string
	for _, e := range kvs {
		parts = append(parts, e.k+" "+h.perRollout(e.v))
	}
	return strings.Join(parts, ", ")
}

// quantile is the q-quantile (nearest rank) of ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func pair(ds []time.Duration, q1, q2 float64) string {
	if len(ds) == 0 {
		return "—"
	}
	return secs(quantile(ds, q1)) + " / " + secs(quantile(ds, q2))
}

// firstTaskBound is the target for a rollout's first workflow task: it
// starts within 10 s of the rollout.
const firstTaskBound = 10 * time.Second

// firstTasks is the first-task figure: p50 / p99 / max and how many
// rollouts waited longer than firstTaskBound.
func firstTasks(ds []time.Duration) string {
	if len(ds) == 0 {
		return "—"
	}
	over := 0
	for _, d := range ds {
		if d > firstTaskBound {
			over++
		}
	}
	return fmt.Sprintf("%s / %s / %s (%d)", secs(quantile(ds, 0.5)), secs(quantile(ds, 0.99)), secs(quantile(ds, 1)), over)
}

func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "N\tplan\tstart time\tpromoted\ttook\tworkflow tasks / rollout\tactivities / rollout\tevents / rollout\tworker CPU / rollout\tworker peak RSS\tserver CPU\tgateway CPU\tlateness p50 / p99\tfirst task p50 / p99 / max (over 10 s)\tabort → 0 % p50 / max\tload avg at end\tCPU stolen by the host")
	for _, r := range rows {
		h := r.hist
		promoted := fmt.Sprintf("%d/%d", r.promoted, r.n)
		if r.promoted == r.n {
			promoted = "all " + promoted
		}
		if h.neverRan > 0 {
			promoted += fmt.Sprintf(" (%d never ran)", h.neverRan)
		}
		cpuPer := time.Duration(0)
		if r.n > 0 {
			cpuPer = r.workerCPU / time.Duration(r.n)
		}
		aborts := "—"
		if len(r.aborts) > 0 {
			aborts = pair(r.aborts, 0.5, 1) + fmt.Sprintf(" (%d)", len(r.aborts))
		}
		if r.abortsMissed > 0 {
			aborts += fmt.Sprintf(", %d not within %s", r.abortsMissed, abortTimeout)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f ms\t%d MB\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.n, r.plan, secs(r.startTime), promoted, secs(r.elapsed), h.perRollout(h.tasks), h.perRollout(h.activityCount()),
			h.perRollout(h.events), float64(cpuPer.Microseconds())/1000, r.workerRSS>>20, secs(r.serverCPU), secs(r.gatewayCPU),
			pair(h.lateness, 0.5, 0.99), firstTasks(h.firstTask), aborts, r.load, r.stolen)
	}
	tw.Flush()
	for _, r := range rows {
		fmt.Fprintf(w, "N=%d activities per rollout: %s; %d looks at the eval endpoint; %d workflow tasks failed or timed out\n", r.n, r.hist.activityMix(), r.looks, r.hist.taskFailures)
		if r.dbCPU > 0 {
			fmt.Fprintf(w, "N=%d PostgreSQL CPU %s (server CPU is the Temporal server's alone)\n", r.n, secs(r.dbCPU))
		}
		if r.hist.firstFailure != "" {
			fmt.Fprintf(w, "N=%d first workflow task failure: %s\n", r.n, r.hist.firstFailure)
		}
	}
}
