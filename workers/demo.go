package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc"

	"github.com/coalmine-dev/coalmine/activities"
	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
	"github.com/coalmine-dev/coalmine/workflows"
)

// Demo defaults.
const (
	// DefaultDemoPlan is the plan the demo rolls out.
	DefaultDemoPlan = "plans/examples/demo-agent.yaml"
	// DefaultDemoSpeed compresses the plan's time so the demo fits in
	// about two minutes.
	DefaultDemoSpeed = 10
	// MaxDemoSpeed is the fastest the demo runs; the end-to-end test uses it.
	MaxDemoSpeed = 60
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

// DemoOptions configure the demo.
type DemoOptions struct {
	// TemporalPath is the temporal CLI binary (bin/temporal).
	TemporalPath string
	// PlanPath is the plan to roll out; DefaultDemoPlan when empty.
	PlanPath string
	// Dir holds the Temporal database and logs; a temporary folder,
	// removed at the end, when empty.
	Dir string
	// Speed divides every duration of the plan (plans.Scale); 1 runs the
	// plan's real durations, 0 means DefaultDemoSpeed.
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

// DemoRollout is what happened to one of the demo's rollouts.
type DemoRollout struct {
	// Title says which it is: "good canary" or "bad canary".
	Title string
	// App, Stable and Canary name the rollout.
	App, Stable, Canary string
	// WorkflowID and RunID identify its workflow; UIURL shows it in the Web UI.
	WorkflowID, RunID, UIURL string
	// Phase is how it ended: Promoted or RolledBack.
	Phase workflows.Phase
	// Reason says why it rolled back, in plain words.
	Reason string
	// Plain says in plain words which metric caught the canary and with
	// what numbers; empty when nothing failed.
	Plain string
	// Verdicts are its analyses' results.
	Verdicts []workflows.Verdict
	// PromotedBy says who passed the approval gate, when one was passed.
	PromotedBy string
	// Started and Ended bound the rollout.
	Started, Ended time.Time
	// TrafficAt is when the gateway first sent the canary traffic.
	TrafficAt time.Time
	// DetectedAt is when the first analysis failed; zero when none did.
	DetectedAt time.Time
	// StableAt is when the gateway reported 0% canary after DetectedAt.
	StableAt time.Time
	// GatewayStable is the version the gateway's route serves as stable at the end.
	GatewayStable string
}

// TimeToDetect is the time from the canary's first traffic to the first
// failed analysis; 0 when nothing failed.
func (r DemoRollout) TimeToDetect() time.Duration {
	if r.DetectedAt.IsZero() || r.TrafficAt.IsZero() {
		return 0
	}
	return max(0, r.DetectedAt.Sub(r.TrafficAt))
}

// TimeToStable is the time from the first failed analysis to the gateway
// sending no traffic to the canary; 0 when nothing failed.
func (r DemoRollout) TimeToStable() time.Duration {
	if r.DetectedAt.IsZero() || r.StableAt.IsZero() {
		return 0
	}
	return max(0, r.StableAt.Sub(r.DetectedAt))
}

// DemoReport is the outcome of the demo.
type DemoReport struct {
	// Speed is the factor the plan's durations were divided by; Rate the load.
	Speed, Rate float64
	// UIURL is the Temporal Web UI.
	UIURL string
	// ServerPID is the Temporal dev server's process id (gone once the demo returns).
	ServerPID int
	// Rollouts are the good and the bad canary's rollouts, in order.
	Rollouts []DemoRollout
	// Requests and Failed count the load generator's requests and those
	// that got no answer or a server error.
	Requests, Failed int64
}

// demoVersion is one version of the demo agent.
type demoVersion struct {
	cfg demoagent.Config
	url string
}

// demoVersions are the stable version and the two canaries: v2 behaves
// like v1; v3 answers as fast but calls tools 30% more often and fails
// more eval questions.
func demoVersions() []demoagent.Config {
	base := demoagent.Config{Latency: 150 * time.Millisecond, LatencySigma: 0.1, TTFT: 40 * time.Millisecond,
		Tokens: 40, ToolCallRate: 0.4, ErrorRate: 0.005, Quality: 0.96}
	v1, v2, v3 := base, base, base
	v1.Version, v1.Seed = "v1", 1
	v2.Version, v2.Seed = "v2", 2
	v3.Version, v3.Seed = "v3", 3
	v3.ToolCallRate = base.ToolCallRate * 1.3
	v3.Quality = 0.78
	return []demoagent.Config{v1, v2, v3}
}

// RunDemo runs coalmine's demo: the dev stack (Temporal dev server with
// its Web UI, worker), the gateway in front of three demo-agent versions,
// steady load through the gateway, and two rollouts of the demo plan — a
// good canary that passes every analysis, waits at its approval gate and
// is promoted through the promote update, then a bad canary that analysis
// catches and rolls back. It shows progress on o.Out, prints a summary and
// returns the report. Cancelling ctx stops everything, the Temporal server
// included.
func RunDemo(ctx context.Context, o DemoOptions) (DemoReport, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PlanPath == "" {
		o.PlanPath = DefaultDemoPlan
	}
	if o.Speed == 0 {
		o.Speed = DefaultDemoSpeed
	}
	if math.IsNaN(o.Speed) || o.Speed < 1 || o.Speed > MaxDemoSpeed {
		return DemoReport{}, fmt.Errorf("demo speed %v: use a factor from 1 (the plan's real durations) to %d", o.Speed, MaxDemoSpeed)
	}
	if o.Rate == 0 {
		o.Rate = min(demoBaseRate*o.Speed, demoMaxRate)
	}
	if o.Rate <= 0 || math.IsNaN(o.Rate) || o.Rate > 5000 {
		return DemoReport{}, fmt.Errorf("demo rate %v: use 1 to 5000 requests per second", o.Rate)
	}
	if o.GateHold == 0 {
		o.GateHold = 3 * time.Second
	}
	rep := DemoReport{Speed: o.Speed, Rate: o.Rate}

	p, _, err := plans.LoadFile(o.PlanPath)
	if err != nil {
		return rep, fmt.Errorf("demo plan: %w", err)
	}
	if p.Spec.Traffic.Gateway == nil {
		return rep, fmt.Errorf("demo plan %s: the demo needs the gateway router (spec.traffic.gateway)", o.PlanPath)
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "coalmine-demo-")
		if err != nil {
			return rep, fmt.Errorf("demo folder: %w", err)
		}
		defer os.RemoveAll(dir)
		o.Dir = dir
	}
	if o.Port == 0 {
		if o.Port, err = freeLoopbackPort(); err != nil {
			return rep, err
		}
	}
	if o.UIPort == 0 {
		if o.UIPort, err = freeLoopbackPort(); err != nil {
			return rep, err
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()

	// The demo agents.
	var versions []demoVersion
	for _, cfg := range demoVersions() {
		u, stop, err := serveLoopback(demoagent.New(cfg).Handler())
		if err != nil {
			return rep, fmt.Errorf("demo agent %s: %w", cfg.Version, err)
		}
		stops = append(stops, stop)
		versions = append(versions, demoVersion{cfg: cfg, url: u})
		fmt.Fprintf(o.Out, "Demo agent %s: %s (tool-call rate %.2f, eval quality %.2f, latency %s; eval at %s/api/run?suite=demo)\n",
			cfg.Version, u, cfg.ToolCallRate, cfg.Quality, cfg.Latency, u)
	}

	// The gateway, on ports the demo binds itself.
	route := p.Spec.Traffic.Gateway.Route
	tokenEnv := p.Spec.Traffic.Gateway.TokenEnv
	trafficURL, adminURL, stopGW, err := startDemoGateway(runCtx, route, tokenEnv, versions[0], o.Logger)
	if err != nil {
		return rep, err
	}
	stops = append(stops, stopGW)
	if old := p.Spec.Traffic.Gateway.URL; old != adminURL {
		retargetGateway(p, old, adminURL)
		fmt.Fprintf(o.Out, "Plan %s: gateway admin URL %s → %s (the address the demo bound)\n", o.PlanPath, old, adminURL)
	}
	if err := plans.Scale(p, o.Speed); err != nil {
		return rep, err
	}
	if o.Speed == 1 {
		fmt.Fprintf(o.Out, "Speed ×1: the plan's real durations; load %.0f requests/s\n", o.Rate)
	} else {
		fmt.Fprintf(o.Out, "Speed ×%g: every pause, interval, timeout and delay of the plan is divided by %g (a 3m pause takes %s); load %.0f requests/s so each window sees about as many requests as at --speed 1\n",
			o.Speed, o.Speed, (3 * time.Minute / time.Duration(o.Speed)).Round(100*time.Millisecond), o.Rate)
	}
	getenv := func(name string) string {
		if name == tokenEnv {
			return demoToken
		}
		return os.Getenv(name)
	}

	finished := false // set by Run once the summary is out
	dev := DevOptions{
		TemporalPath:    o.TemporalPath,
		Dir:             o.Dir,
		Port:            o.Port,
		UIPort:          o.UIPort,
		ExternalGateway: fmt.Sprintf("traffic on %s, admin API on %s (route %s)", trafficURL, adminURL, route),
		Out:             o.Out,
		Logger:          o.Logger,
		Activities: func(func(string) string) *activities.Activities {
			return DefaultActivities(o.Logger, getenv)
		},
		Run: func(ctx context.Context, info DevInfo) error {
			rep.UIURL, rep.ServerPID = info.UIURL, info.ServerPID
			d := &demo{o: o, info: info, plan: p, route: route, versions: versions,
				admin: admin.NewClient(adminURL, demoToken, nil)}
			load := startLoad(ctx, trafficURL+"/"+route+"/v1/chat/completions", o.Rate)
			fmt.Fprintf(o.Out, "Load: %.0f chat completions/s with sessions (x-session-id) through the gateway\n\n", o.Rate)
			err := d.run(ctx, &rep)
			rep.Requests, rep.Failed = load.stop()
			if err != nil {
				return err
			}
			writeDemoSummary(o.Out, rep)
			finished = true
			if o.Hold {
				fmt.Fprintf(o.Out, "\nEverything keeps running for the Web UI (%s). Ctrl-C stops it.\n", info.UIURL)
				<-ctx.Done()
			}
			return nil
		},
	}
	fmt.Fprintf(o.Out, "Starting the dev stack: Temporal dev server (%s), worker, gateway\n", o.TemporalPath)
	err = RunDev(runCtx, dev)
	if finished {
		// The summary is out; a Ctrl-C that ends --hold is the normal end.
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		return rep, err
	}
	return rep, Interrupted(ctx, err)
}

// retargetGateway points the plan's router and every gateway metric that
// read the plan's gateway at url instead.
func retargetGateway(p *plans.RolloutPlan, old, url string) {
	p.Spec.Traffic.Gateway.URL = url
	for name, t := range p.Spec.AnalysisTemplates {
		for i, m := range t.Metrics {
			if g := m.Provider.Gateway; g != nil && (g.URL == "" || g.URL == old) {
				c := *g
				c.URL = url
				t.Metrics[i].Provider.Gateway = &c
			}
		}
		p.Spec.AnalysisTemplates[name] = t
	}
}

// startDemoGateway runs the gateway with one route whose stable version is
// stable, on loopback ports of its own.
func startDemoGateway(ctx context.Context, route, tokenEnv string, stable demoVersion, logger *slog.Logger) (string, string, func(), error) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, fmt.Errorf("demo gateway: listen for traffic: %w", err)
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tl.Close()
		return "", "", nil, fmt.Errorf("demo gateway: listen for the admin API: %w", err)
	}
	cfg, err := gateway.ParseConfig(fmt.Appendf(nil, `
listen: %s
admin: {listen: %s, tokenEnv: %s}
routes:
  - name: %s
    stable: {version: %s, url: %s}
`, tl.Addr(), al.Addr(), tokenEnv, route, stable.cfg.Version, stable.url))
	if err == nil {
		var g *gateway.Gateway
		if g, err = gateway.New(cfg, demoToken, logger.With("component", "gateway")); err == nil {
			gctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- g.Serve(gctx, tl, al) }()
			stop := func() {
				cancel()
				if err := <-done; err != nil {
					logger.Error("demo gateway stopped with an error", "error", err)
				}
			}
			return "http://" + tl.Addr().String(), "http://" + al.Addr().String(), stop, nil
		}
	}
	tl.Close()
	al.Close()
	return "", "", nil, fmt.Errorf("demo gateway: %w", err)
}

// serveLoopback serves h on a free loopback port until stop is called.
func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// freeLoopbackPort returns a loopback port that was free a moment ago.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// demo runs the two rollouts on a running stack.
type demo struct {
	o        DemoOptions
	info     DevInfo
	plan     *plans.RolloutPlan
	route    string
	versions []demoVersion
	admin    *admin.Client
	c        client.Client
}

func (d *demo) run(ctx context.Context, rep *DemoReport) error {
	opts := client.Options{HostPort: d.info.HostPort, Namespace: d.info.Namespace,
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))}
	if d.o.Interceptor != nil {
		opts.ConnectionOptions.DialOptions = []grpc.DialOption{grpc.WithChainUnaryInterceptor(d.o.Interceptor)}
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("demo: connect to Temporal at %s: %w", d.info.HostPort, err)
	}
	defer c.Close()
	d.c = c
	v1, v2, v3 := d.versions[0], d.versions[1], d.versions[2]

	good, err := d.rollout(ctx, 1, "good canary", v1, v2)
	rep.Rollouts = append(rep.Rollouts, good)
	if err != nil {
		return err
	}
	if good.Phase != workflows.PhasePromoted {
		return fmt.Errorf("demo: the good canary %s ended %s, not Promoted: %s", v2.cfg.Version, good.Phase, good.Reason)
	}
	bad, err := d.rollout(ctx, 2, "bad canary", v2, v3)
	rep.Rollouts = append(rep.Rollouts, bad)
	if err != nil {
		return err
	}
	if bad.Phase != workflows.PhaseRolledBack {
		return fmt.Errorf("demo: the bad canary %s ended %s, not RolledBack", v3.cfg.Version, bad.Phase)
	}
	return nil
}

// rollout starts one rollout, shows its progress, promotes it at its
// approval gate and waits for its end.
func (d *demo) rollout(ctx context.Context, n int, title string, stable, canary demoVersion) (DemoRollout, error) {
	app := d.plan.Spec.App
	r := DemoRollout{Title: title, App: app, Stable: stable.cfg.Version, Canary: canary.cfg.Version, WorkflowID: workflows.WorkflowID(app)}
	fmt.Fprintf(d.o.Out, "── Rollout %d/2: %s — %s %s → %s (%s)\n", n, title, app, r.Stable, r.Canary, describeAgent(canary.cfg, stable.cfg))

	watch := watchRoute(ctx, d.admin, d.route, r.Canary)
	in := workflows.Input{
		Plan:      *d.plan,
		Stable:    api.Version{Name: r.Stable, URL: stable.url},
		Canary:    api.Version{Name: r.Canary, URL: canary.url},
		StartedBy: demoBy,
	}
	run, err := d.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       r.WorkflowID,
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		StaticSummary:            workflows.StaticSummary(app, r.Stable, r.Canary),
		StaticDetails:            fmt.Sprintf("coalmine demo, rollout %d/2: the %s. Plan **%s** at speed ×%g.", n, title, d.plan.Metadata.Name, d.o.Speed),
		TypedSearchAttributes:    workflows.SearchAttributes(app, r.Stable, r.Canary, workflows.PhaseProgressing, 0),
	}, WorkflowName, in)
	if err != nil {
		watch.stop()
		return r, fmt.Errorf("demo: start the rollout of %s %s: %w", app, r.Canary, err)
	}
	r.RunID = run.GetRunID()
	r.UIURL = workflowUIURL(d.info.UIURL, d.info.Namespace, r.WorkflowID, r.RunID)
	fmt.Fprintf(d.o.Out, "started workflow %s (run %s)\n   Web UI: %s\n", r.WorkflowID, r.RunID, r.UIURL)

	st, err := d.follow(ctx, run, r.Title)
	samples := watch.stop()
	if err != nil {
		return r, err
	}
	r.Phase, r.Reason, r.Verdicts = st.Phase, st.Reason, st.Verdicts
	gerr := run.Get(ctx, nil)
	if (r.Phase == workflows.PhasePromoted && gerr != nil) || (r.Phase == workflows.PhaseRolledBack && !isRolledBackErr(gerr)) {
		return r, fmt.Errorf("demo: the rollout of %s ended %s but its workflow says: %v", r.Canary, r.Phase, gerr)
	}
	r.Started, r.Ended = st.StartedAt, st.UpdatedAt
	for _, a := range st.Approvals {
		if a.Decision == "approved" || strings.HasPrefix(a.Decision, "approv") {
			r.PromotedBy = a.By
		}
	}
	for _, v := range st.Verdicts {
		if v.Phase == analysis.PhaseFailed {
			r.DetectedAt = v.At
			break
		}
	}
	r.TrafficAt, r.StableAt = samples.times(r.DetectedAt)
	r.Plain = plainCatch(st, d.plan)
	if rs, err := d.admin.Route(ctx, d.route); err == nil {
		r.GatewayStable = rs.Stable.Version
	}
	if r.Phase == workflows.PhaseRolledBack {
		fmt.Fprintf(d.o.Out, "%s rolled back: %s\n\n", r.Canary, r.Reason)
	} else {
		fmt.Fprintf(d.o.Out, "%s %s\n\n", r.Canary, r.Phase)
	}
	return r, nil
}

// follow shows the rollout's progress until it ends, promoting it at its
// approval gate; it returns the final status.
func (d *demo) follow(ctx context.Context, run client.WorkflowRun, title string) (workflows.Status, error) {
	app := d.plan.Spec.App
	p := newProgress(d.o.Out, d.o.TTY, d.o.Render)
	p.width, p.height = d.o.Width, d.o.Height
	every := 250 * time.Millisecond
	if d.o.TTY {
		every = 500 * time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var gateSince time.Time
	promoted := false
	for {
		st, err := d.status(ctx, run)
		if err != nil {
			return st, err
		}
		p.show(st, time.Now())
		if st.Phase.Ended() {
			p.done()
			return st, nil
		}
		if st.Gate != "" && st.Phase == workflows.PhasePaused && !promoted && (st.WaitKind == "approval" || st.WaitKind == "gate") {
			if gateSince.IsZero() {
				gateSince = time.Now()
				p.note(fmt.Sprintf("%s waits at its approval gate (%s); in %s the demo approves it with the promote update, as `coalmine promote %s` does", st.Canary.Name, st.Gate, d.o.GateHold, app))
			} else if time.Since(gateSince) >= d.o.GateHold {
				if err := d.promote(ctx, app); err != nil {
					return st, err
				}
				promoted = true
				p.note(fmt.Sprintf("promote sent by %q: the gate passed", demoBy))
			}
		} else if st.Phase == workflows.PhasePaused && st.WaitKind == "inconclusive" {
			return st, fmt.Errorf("demo: the %s's analysis was inconclusive (%s); the rollout waits for a person — look at it with coalmine status %s", title, st.Waiting, app)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-tick.C:
		}
	}
}

// status queries the rollout's status; the query keeps working after the
// workflow has ended while the worker runs.
func (d *demo) status(ctx context.Context, run client.WorkflowRun) (workflows.Status, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := d.c.QueryWorkflow(qctx, run.GetID(), run.GetRunID(), workflows.QueryStatus)
	if err != nil {
		return workflows.Status{}, fmt.Errorf("demo: query the status of %s: %w", run.GetID(), err)
	}
	var st workflows.Status
	if err := v.Get(&st); err != nil {
		return workflows.Status{}, fmt.Errorf("demo: decode the status of %s: %w", run.GetID(), err)
	}
	return st, nil
}

// promote sends the promote update, as `coalmine promote` does.
func (d *demo) promote(ctx context.Context, app string) error {
	uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	h, err := d.c.UpdateWorkflow(uctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(app),
		UpdateName:   workflows.UpdatePromote,
		Args:         []any{workflows.Request{By: demoBy, Reason: "every analysis passed"}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return fmt.Errorf("demo: promote %s: %w", app, err)
	}
	var out string
	if err := h.Get(uctx, &out); err != nil {
		return fmt.Errorf("demo: promote %s: %w", app, err)
	}
	return nil
}

// plainCatch says in plain words which failed metric caught the canary:
// "v3's tool-call-rate was 0.524 against v2's 0.401 (1.31×)". It returns ""
// when no metric failed.
func plainCatch(st workflows.Status, p *plans.RolloutPlan) string {
	for _, m := range append(slices.Clone(st.Background), st.Analysis...) {
		if m.Assessment.Phase != analysis.PhaseFailed {
			continue
		}
		last, ok := m.History.Last()
		if !ok {
			continue
		}
		switch {
		case len(last.Canary) > 0 && len(last.Stable) > 0 && last.Stable[0] != 0:
			return fmt.Sprintf("%s's %s was %.3g against %s's %.3g (%.2f×), worse than the plan allows",
				st.Canary.Name, m.Metric, last.Canary[0], st.Stable.Name, last.Stable[0], last.Canary[0]/last.Stable[0])
		case len(last.Result) > 0:
			cond := ""
			if t, ok := p.Spec.AnalysisTemplates[m.Template]; ok {
				for _, pm := range t.Metrics {
					if pm.Name == m.Metric && pm.SuccessCondition != "" {
						cond = fmt.Sprintf("; the plan needs %s", pm.SuccessCondition)
					}
				}
			}
			return fmt.Sprintf("%s's %s was %.3g%s", st.Canary.Name, m.Metric, last.Result[0], cond)
		}
	}
	return ""
}

// workflowUIURL links a workflow run in the Temporal Web UI.
func workflowUIURL(ui, namespace, id, runID string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", ui, url.PathEscape(namespace), url.PathEscape(id), url.PathEscape(runID))
}

// describeAgent says how a canary differs from stable, for people.
func describeAgent(c, s demoagent.Config) string {
	var diffs []string
	if c.ToolCallRate != s.ToolCallRate {
		diffs = append(diffs, fmt.Sprintf("tool-call rate %.2f vs %.2f (%+.0f%%)", c.ToolCallRate, s.ToolCallRate, (c.ToolCallRate/s.ToolCallRate-1)*100))
	}
	if c.Quality != s.Quality {
		diffs = append(diffs, fmt.Sprintf("eval quality %.2f vs %.2f", c.Quality, s.Quality))
	}
	if c.Latency == s.Latency {
		diffs = append(diffs, "same latency")
	}
	if len(diffs) == 1 && c.Latency == s.Latency {
		return "behaves like stable"
	}
	return strings.Join(diffs, ", ")
}

// isRolledBackErr reports whether err is a rollout that ended rolled back.
func isRolledBackErr(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == workflows.ErrorTypeRolledBack
}
