// Package demo runs coalmine's demo: on the dev stack (package devstack),
// the gateway in front of three demo-agent versions, steady load through
// it, and two rollouts of the demo plan — a good canary that is promoted
// at its approval gate and a bad canary that analysis catches and rolls
// back — with progress and a summary for people.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/devstack"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

// Demo defaults.
const (
	// DefaultPlan is the plan the demo rolls out.
	DefaultPlan = "plans/examples/demo-agent.yaml"
	// DefaultSpeed compresses the plan's time so the demo fits in
	// about two minutes.
	DefaultSpeed = 10
	// MaxSpeed is the fastest the demo runs; the end-to-end test uses it.
	MaxSpeed = 60
	// demoBaseRate is the load at --speed 1, in requests per second.
	demoBaseRate = 40
	// demoMaxRate caps the load the demo generates at high speeds.
	demoMaxRate = 400
	// demoToken is the admin token of the demo's gateway, which listens on
	// loopback only.
	demoToken = "coalmine-demo"
	// demoBy is who the demo says promotes and starts rollouts.
	demoBy = "coalmine demo"
)

// Options configure the demo.
type Options struct {
	// TemporalPath is the temporal CLI binary (bin/temporal).
	TemporalPath string
	// PlanPath is the plan to roll out; DefaultPlan when empty.
	PlanPath string
	// Dir holds the Temporal database and logs; a temporary folder,
	// removed at the end, when empty.
	Dir string
	// Speed divides every duration of the plan (plans.Scale); 1 runs the
	// plan's real durations, 0 means DefaultSpeed.
	Speed float64
	// Rate is the load in requests per second; 0 means 40 × Speed, at most 400.
	Rate float64
	// Port and UIPort are the Temporal frontend and Web UI ports; 0 picks
	// free ones.
	Port, UIPort int
	// GateHold is how long the good canary visibly waits at its approval
	// gate before the demo promotes it; 0 means 3s.
	GateHold time.Duration
	// Hold keeps everything running after the summary until ctx ends, so
	// people can look around the Web UI.
	Hold bool
	// TTY redraws the progress block in place; otherwise progress is
	// appended line by line.
	TTY bool
	// Width and Height are the terminal's size in TTY mode; each line of
	// the block is cut to Width and the block to Height. 0 means 120×40.
	Width, Height int
	// Render draws a rollout's status for the in-place progress block; nil
	// uses a compact built-in rendering.
	Render func(w io.Writer, st workflows.Status, now time.Time)
	// Out receives the progress and the summary.
	Out io.Writer
	// Logger logs the worker and the gateway; nil discards.
	Logger *slog.Logger
	// Interceptor, when set, wraps every call the demo itself makes to
	// Temporal (start, status query, promote update). Tests use it to
	// interrupt the demo at a chosen call.
	Interceptor grpc.UnaryClientInterceptor
}

// Run runs coalmine's demo: the dev stack (Temporal dev server with its
// Web UI, worker), the gateway in front of three demo-agent versions,
// steady load through the gateway, and two rollouts of the demo plan — a
// good canary that passes every analysis, waits at its approval gate and
// is promoted through the promote update, then a bad canary that analysis
// catches and rolls back. It shows progress on o.Out, prints a summary and
// returns the report. Cancelling ctx stops everything, the Temporal server
// included.
func Run(ctx context.Context, o Options) (Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Report{}, err
	}
	rep := Report{Speed: o.Speed, Rate: o.Rate}
	p, err := loadPlan(o.PlanPath)
	if err != nil {
		return rep, err
	}
	o, cleanup, err := o.withFolderAndPorts()
	if err != nil {
		return rep, err
	}
	defer cleanup()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stop stops
	defer stop.run()
	g := p.Spec.Traffic.Block.(*traffic.GatewayTraffic) // loadPlan made sure
	d := &demo{o: o, plan: p, route: g.Route, tokenEnv: g.TokenEnv}
	if d.versions, err = startAgents(o.Out, &stop); err != nil {
		return rep, err
	}
	stopGW, err := d.startGateway(runCtx)
	if err != nil {
		return rep, err
	}
	stop.add(stopGW)
	if err := plans.Scale(p, o.Speed); err != nil {
		return rep, err
	}
	sayScale(o)
	err = d.onStack(ctx, runCtx, &rep)
	return rep, err
}

// withDefaults fills in the defaults of the empty options and checks
// Speed and Rate.
func (o Options) withDefaults() (Options, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PlanPath == "" {
		o.PlanPath = DefaultPlan
	}
	if o.Speed == 0 {
		o.Speed = DefaultSpeed
	}
	if math.IsNaN(o.Speed) || o.Speed < 1 || o.Speed > MaxSpeed {
		return o, fmt.Errorf("demo speed %v: use a factor from 1 (the plan's real durations) to %d", o.Speed, MaxSpeed)
	}
	if o.Rate == 0 {
		o.Rate = min(demoBaseRate*o.Speed, demoMaxRate)
	}
	if o.Rate <= 0 || math.IsNaN(o.Rate) || o.Rate > 5000 {
		return o, fmt.Errorf("demo rate %v: use 1 to 5000 requests per second", o.Rate)
	}
	if o.GateHold == 0 {
		o.GateHold = 3 * time.Second
	}
	return o, nil
}

// loadPlan loads the demo plan, which must use the gateway router.
func loadPlan(path string) (*plans.RolloutPlan, error) {
	p, _, err := plans.LoadFile(path)
	if err != nil {
		return nil, fmt.Errorf("demo plan: %w", err)
	}
	if _, ok := p.Spec.Traffic.Block.(*traffic.GatewayTraffic); !ok {
		return nil, fmt.Errorf("demo plan %s: the demo needs the gateway router (spec.traffic.gateway)", path)
	}
	return p, nil
}

// withFolderAndPorts makes a temporary folder when o.Dir is empty
// (cleanup removes it) and picks free ports for the zero ones.
func (o Options) withFolderAndPorts() (Options, func(), error) {
	cleanup := func() {}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "coalmine-demo-")
		if err != nil {
			return o, cleanup, fmt.Errorf("demo folder: %w", err)
		}
		cleanup = func() { os.RemoveAll(dir) }
		o.Dir = dir
	}
	for _, port := range []*int{&o.Port, &o.UIPort} {
		if *port != 0 {
			continue
		}
		var err error
		if *port, err = freeLoopbackPort(); err != nil {
			return o, cleanup, err
		}
	}
	return o, cleanup, nil
}

// sayScale says how fast the plan's time runs and how much load there is.
func sayScale(o Options) {
	if o.Speed == 1 {
		fmt.Fprintf(o.Out, "Speed ×1: the plan's real durations; load %.0f requests/s\n", o.Rate)
		return
	}
	fmt.Fprintf(o.Out, "Speed ×%g: every pause, interval, timeout and delay of the plan is divided by %g (a 3m pause takes %s); load %.0f requests/s so each window sees about as many requests as at --speed 1\n",
		o.Speed, o.Speed, (3 * time.Minute / time.Duration(o.Speed)).Round(100*time.Millisecond), o.Rate)
}

// startGateway starts the demo's gateway in front of the stable agent and
// points the plan at the admin address it bound.
func (d *demo) startGateway(ctx context.Context) (func(), error) {
	trafficURL, adminURL, stop, err := startGateway(ctx, d.route, d.tokenEnv, d.versions[0], d.o.Logger)
	if err != nil {
		return nil, err
	}
	d.trafficURL, d.adminURL = trafficURL, adminURL
	d.admin = admin.NewClient(adminURL, demoToken, nil)
	if old := d.plan.Spec.Traffic.Block.(*traffic.GatewayTraffic).URL; old != adminURL {
		retargetGateway(d.plan, old, adminURL)
		fmt.Fprintf(d.o.Out, "Plan %s: gateway admin URL %s → %s (the address the demo bound)\n", d.o.PlanPath, old, adminURL)
	}
	return stop, nil
}

// getenv reads the environment, with the demo gateway's token under the
// plan's tokenEnv.
func (d *demo) getenv(name string) string {
	if name == d.tokenEnv {
		return demoToken
	}
	return os.Getenv(name)
}

// onStack runs the dev stack with the demo as its Options.Run and returns
// once the demo has ended (after --hold, once ctx ends).
func (d *demo) onStack(ctx, runCtx context.Context, rep *Report) error {
	o := d.o
	finished := false // set by Run once the summary is out
	dev := devstack.Options{
		TemporalPath:    o.TemporalPath,
		Dir:             o.Dir,
		Port:            o.Port,
		UIPort:          o.UIPort,
		ExternalGateway: fmt.Sprintf("traffic on %s, admin API on %s (route %s)", d.trafficURL, d.adminURL, d.route),
		Out:             o.Out,
		Logger:          o.Logger,
		Activities: func(func(string) string) *activities.Activities {
			return workers.DefaultActivities(o.Logger, d.getenv)
		},
		Run: func(ctx context.Context, info devstack.Info) error {
			if err := d.main(ctx, info, rep); err != nil {
				return err
			}
			finished = true
			if o.Hold {
				fmt.Fprintf(o.Out, "\nEverything keeps running for the Web UI (%s). Ctrl-C stops it.\n", info.UIURL)
				<-ctx.Done()
			}
			return nil
		},
	}
	fmt.Fprintf(o.Out, "Starting the dev stack: Temporal dev server (%s), worker, gateway\n", o.TemporalPath)
	err := devstack.Run(runCtx, dev)
	if finished {
		// The summary is out; a Ctrl-C that ends --hold is the normal end.
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		return err
	}
	return devstack.Interrupted(ctx, err)
}

// main runs the load and the two rollouts on the running stack and
// prints the summary.
func (d *demo) main(ctx context.Context, info devstack.Info, rep *Report) error {
	rep.UIURL, rep.ServerPID = info.UIURL, info.ServerPID
	d.info = info
	load := startLoad(ctx, d.trafficURL+"/"+d.route+"/v1/chat/completions", d.o.Rate)
	fmt.Fprintf(d.o.Out, "Load: %.0f chat completions/s with sessions (x-session-id) through the gateway\n\n", d.o.Rate)
	err := d.run(ctx, rep)
	rep.Requests, rep.Failed = load.stop()
	if err != nil {
		return err
	}
	writeSummary(d.o.Out, *rep)
	return nil
}
