// Command benchorchestrator measures how many rollouts one coalmine worker
// runs at once: it starts a Temporal server (the dev server with its SQLite
// file, or with -server postgres the Temporal server on PostgreSQL), one
// gateway and one worker as real processes, starts N concurrent rollouts of
// a plan, aborts a few more under that load, and prints per N the start time, workflow tasks and
// activities per rollout, CPU and memory, how late timers and waiting looks
// were seen (lateness), the delay before a
// rollout's first workflow task, and how long an abort takes to bring the
// canary to 0 % at the gateway. `make bench-orchestrator` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// params are one benchmark's settings, printed with its table.
type params struct {
	coalmine, temporal string
	// server is dev or postgres; sqlServer holds the postgres setup's tools.
	server     string
	sqlServer  sqlServerTools
	ns         []int
	plan       string
	aborts     int
	seed       int64
	workerArgs []string
	timeout    time.Duration
	keep       bool
}

func main() {
	var p params
	var ns, workerArgs string
	flag.StringVar(&p.coalmine, "coalmine", "bin/coalmine", "the coalmine binary that runs the gateway and the worker")
	flag.StringVar(&p.temporal, "temporal", "bin/temporal", "the temporal CLI that runs the dev server")
	flag.StringVar(&p.server, "server", "dev", "the Temporal server: dev (temporal server start-dev, SQLite in a file) or postgres (temporal-server on a PostgreSQL started for the run)")
	flag.StringVar(&p.sqlServer.server, "temporal-server", "bin/temporal-server", "with -server postgres: the Temporal server binary (make tools-sql builds it)")
	flag.StringVar(&p.sqlServer.sqlTool, "sql-tool", "bin/temporal-sql-tool", "with -server postgres: the Temporal SQL schema tool (built with bin/temporal-server)")
	flag.StringVar(&p.sqlServer.pgBin, "pg-bin", "", "with -server postgres: the folder holding PostgreSQL's initdb and postgres; empty finds postgres on PATH")
	flag.IntVar(&p.sqlServer.shards, "shards", 4, "with -server postgres: the server's number of history shards")
	flag.StringVar(&ns, "n", "100,300,1000", "comma-separated numbers of concurrent rollouts, one run each")
	flag.StringVar(&p.plan, "plan", "fast", "the plan: fast (pauses 30s, looks 10s apart) or production (pauses 5m, looks 1m apart)")
	flag.IntVar(&p.aborts, "aborts", 10, "rollouts aborted under load, beside the N promoted ones")
	flag.Int64Var(&p.seed, "seed", 1, "seed of the order the rollouts start in and of the abort times")
	flag.StringVar(&workerArgs, "worker-args", "", "extra flags for coalmine worker, space-separated (e.g. \"--workflow-pollers 2 --poller-autoscaling=false\")")
	flag.DurationVar(&p.timeout, "timeout", 0, "bound of one run; 0 is three times the plan's length plus five minutes")
	flag.BoolVar(&p.keep, "keep", false, "keep each run's folder (database, logs, histories)")
	flag.Parse()
	for _, s := range strings.Split(ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 5000 {
			fail(fmt.Errorf("-n: %q is not a number of rollouts from 1 to 5000", s))
		}
		p.ns = append(p.ns, n)
	}
	if _, ok := planSpecs[p.plan]; !ok {
		fail(fmt.Errorf("-plan: %q is neither fast nor production", p.plan))
	}
	if p.aborts < 0 || p.aborts > 100 {
		fail(fmt.Errorf("-aborts: %d is not from 0 to 100", p.aborts))
	}
	p.workerArgs = strings.Fields(workerArgs)
	binaries := []*string{&p.coalmine, &p.temporal}
	switch p.server {
	case "dev":
	case "postgres":
		if err := p.sqlServer.resolve(); err != nil {
			fail(err)
		}
		binaries = append(binaries, &p.sqlServer.server, &p.sqlServer.sqlTool)
	default:
		fail(fmt.Errorf("-server: %q is neither dev nor postgres", p.server))
	}
	for _, path := range binaries {
		abs, err := filepath.Abs(*path)
		if err != nil {
			fail(err)
		}
		if _, err := os.Stat(abs); err != nil {
			fail(fmt.Errorf("%s is missing: build it first (make build tools; for -server postgres make tools-sql)", abs))
		}
		*path = abs
	}
	if p.timeout == 0 {
		p.timeout = 3*planSpecs[p.plan].length() + 5*time.Minute
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	printParams(p)
	var rows []row
	for _, n := range p.ns {
		r, err := run(ctx, p, n)
		if err != nil {
			printTable(os.Stdout, rows) // what the earlier runs found
			fail(fmt.Errorf("run with %d rollouts: %w", n, err))
		}
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "N=%d done\n", n)
	}
	printTable(os.Stdout, rows)
}

func printParams(p params) {
	spec := planSpecs[p.plan]
	fmt.Printf("bench-orchestrator: plan %s (%s), N %v, %d aborts, seed %d, run bound %s\n", p.plan, spec.describe(), p.ns, p.aborts, p.seed, p.timeout)
	fmt.Printf("server: %s\n", p.describeServer())
	fmt.Printf("worker flags: %q; machine: %d CPUs, load average at start %s\n", p.workerArgs, runtime.NumCPU(), loadAvg())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-orchestrator:", err)
	os.Exit(1)
}
