// Command detect is coalmine's detection benchmark: a deterministic
// simulation of canary rollouts (fixed seeds) that runs coalmine's
// sequential test and the usual alternatives on the same simulated traffic
// and prints one markdown table of false rollback rates, detection rates
// and median times to detect. `make bench-detect` runs it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// config is one benchmark run's settings.
type config struct {
	runs      int
	horizon   int // minutes of canary at its share
	pre       int // minutes of stable-only traffic before
	share     float64
	rates     []float64
	minEffect float64
	workers   int
	seed      uint64
}

func main() {
	cfg := config{share: 0.05, rates: []float64{20, 200}, pre: 10, minEffect: 0.1}
	flag.IntVar(&cfg.runs, "runs", 1000, "simulated rollouts per cell")
	flag.IntVar(&cfg.horizon, "horizon", 180, "minutes each rollout runs (Kayenta's usual 3 one-hour judgements)")
	flag.IntVar(&cfg.workers, "workers", runtime.GOMAXPROCS(0), "cells simulated in parallel")
	flag.Uint64Var(&cfg.seed, "seed", 2026, "base seed; each rollout's stream is fixed by (seed, cell, run)")
	flag.Parse()
	if cfg.runs < 1 || cfg.horizon < 1 || cfg.workers < 1 {
		fmt.Fprintln(os.Stderr, "detect: -runs, -horizon and -workers must be positive")
		os.Exit(2)
	}
	start := time.Now()
	res, err := run(cfg, scenarios, methods(cfg))
	if err != nil {
		fmt.Fprintln(os.Stderr, "detect:", err)
		os.Exit(1)
	}
	report(os.Stdout, cfg, res)
	table, err := run(cfg, tableScenarios, tableMethods())
	if err != nil {
		fmt.Fprintln(os.Stderr, "detect:", err)
		os.Exit(1)
	}
	reportTable(os.Stdout, cfg, table)
	fmt.Fprintf(os.Stderr, "detect: %d cells × %d rollouts in %s\n", len(res)+len(table), cfg.runs, time.Since(start).Round(time.Second))
}

var scenarios = []scenario{
	{name: "A/A error rate 1%", kind: errorRate, stable: 0.01, canary: 0.01, aa: true},
	{name: "error rate 1% → 1.5%", kind: errorRate, stable: 0.01, canary: 0.015},
	{name: "error rate 1% → 2%", kind: errorRate, stable: 0.01, canary: 0.02},
	{name: "error rate 1% → 5%", kind: errorRate, stable: 0.01, canary: 0.05},
	{name: "A/A latency", kind: latency, stable: 1, canary: 1, aa: true},
	{name: "p95 latency +10%", kind: latency, stable: 1, canary: 1.10},
	{name: "p95 latency +25%", kind: latency, stable: 1, canary: 1.25},
	{name: "A/A eval pass 0.95", kind: evalPass, stable: 0.95, canary: 0.95, aa: true},
	{name: "eval pass 0.95 → 0.90", kind: evalPass, stable: 0.95, canary: 0.90},
}

// methods returns the compared methods, in table order.
func methods(cfg config) []method {
	p95 := quantileOfProbs(0.95, bucketProbs(1))
	th := thresholds{maxErrorRate: 0.02, maxP95: 1.25 * p95, minPassRate: 0.92}
	argo, flagger := th, th
	argo.failedToAbort = 1
	flagger.failedToAbort = 5
	return []method{
		coalmine(0.05, cfg.minEffect),
		coalmine(0.01, cfg.minEffect),
		fixedThreshold("fixed threshold, failureLimit 0 (Argo default)", argo),
		fixedThreshold("fixed threshold, 5 failed checks (Flagger example)", flagger),
		kayenta(60),
	}
}

// cellResult is what every method did in one cell (scenario × traffic).
type cellResult struct {
	sc    scenario
	rps   float64
	fails [][]int // per method: minute of each rollback
	pass  []int   // per method: rollouts promoted early
}

func run(cfg config, scs []scenario, ms []method) ([]cellResult, error) {
	var cells []cellResult
	for _, sc := range scs {
		for _, rps := range cfg.rates {
			cells = append(cells, cellResult{sc: sc, rps: rps, fails: make([][]int, len(ms)), pass: make([]int, len(ms))})
		}
	}
	// Jobs are chunks of rollouts; each rollout's randomness depends only on
	// (seed, cell, run), so the result does not depend on scheduling.
	type job struct{ cell, from, to int }
	const chunk = 50
	jobs := make(chan job)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for range cfg.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				c := &cells[j.cell]
				local := make([][]int, len(ms))
				pass := make([]int, len(ms))
				for i := j.from; i < j.to; i++ {
					r := simulate(cfg, c.sc, c.rps, cfg.seed+uint64(j.cell), uint64(i))
					for mi, m := range ms {
						o, err := m.judge(r)
						if err != nil {
							mu.Lock()
							errs = append(errs, fmt.Errorf("%s, %s req/s, rollout %d, %s: %w", c.sc.name, trimFloat(c.rps), i, m.name, err))
							mu.Unlock()
						}
						if o.failAt > 0 {
							local[mi] = append(local[mi], o.failAt)
						}
						if o.passAt > 0 {
							pass[mi]++
						}
					}
				}
				mu.Lock()
				for mi := range ms {
					c.fails[mi] = append(c.fails[mi], local[mi]...)
					c.pass[mi] += pass[mi]
				}
				mu.Unlock()
			}
		}()
	}
	for ci := range cells {
		for from := 0; from < cfg.runs; from += chunk {
			jobs <- job{ci, from, min(from+chunk, cfg.runs)}
		}
	}
	close(jobs)
	wg.Wait()
	return cells, errors.Join(errs...)
}

// simulate draws one rollout's traffic.
func simulate(cfg config, sc scenario, rps float64, s1, s2 uint64) *rollout {
	t := newTraffic(sc, rps, cfg.share, s1, s2)
	r := &rollout{sc: sc}
	for range cfg.pre {
		r.pre = append(r.pre, t.next(true))
	}
	for range cfg.horizon {
		r.mins = append(r.mins, t.next(false))
	}
	return r
}

// medianTTD is the median minute of rollback over all runs, counting runs
// never rolled back as never; ok is false when fewer than half rolled back.
func medianTTD(fails []int, runs int) (int, bool) {
	if 2*len(fails) < runs+1 {
		return 0, false
	}
	s := slices.Clone(fails)
	slices.Sort(s)
	return s[(runs+1)/2-1], true
}

func report(w io.Writer, cfg config, cells []cellResult) {
	ms := methods(cfg)
	tableHeader(w, ms)
	for _, c := range cells {
		fmt.Fprintf(w, "| %s | %s |", c.sc.name, trimFloat(c.rps))
		for mi := range ms {
			rate := 100 * float64(len(c.fails[mi])) / float64(cfg.runs)
			var cell string
			if c.sc.aa {
				cell = fmt.Sprintf("**%.1f%%** false rollback", rate)
			} else {
				cell = fmt.Sprintf("%.1f%% detected", rate)
				if ttd, ok := medianTTD(c.fails[mi], cfg.runs); ok {
					cell += fmt.Sprintf(", median **%d min**", ttd)
				} else {
					cell += fmt.Sprintf(", median >%d min", cfg.horizon)
				}
			}
			if strings.HasPrefix(ms[mi].name, "coalmine") {
				cell += fmt.Sprintf(" (passed %.1f%%)", 100*float64(c.pass[mi])/float64(cfg.runs))
			}
			fmt.Fprintf(w, " %s |", cell)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%d simulated rollouts per cell, %d min each at a %s%% canary share after %d min of stable-only traffic; one look a minute; seed %d.\n",
		cfg.runs, cfg.horizon, trimFloat(100*cfg.share), cfg.pre, cfg.seed)
	checkTargets(w, cfg, cells, ms)
}

// tableHeader prints the header of a table with a column per method.
func tableHeader(w io.Writer, ms []method) {
	fmt.Fprintf(w, "| scenario | req/s |")
	for _, m := range ms {
		fmt.Fprintf(w, " %s |", m.name)
	}
	fmt.Fprintf(w, "\n|---|---|%s\n", strings.Repeat("---|", len(ms)))
}

// checkTargets prints whether the targets hold, per traffic level.
func checkTargets(w io.Writer, cfg config, cells []cellResult, ms []method) {
	const cm, km = 0, 4 // coalmine α=0.05, Kayenta
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Targets (coalmine α=0.05 against the fixed threshold with failureLimit 0 and Kayenta):")
	aa := map[string]cellResult{}
	for _, c := range cells {
		if c.sc.aa {
			aa[fmt.Sprint(c.sc.kind, c.rps)] = c
		}
	}
	for _, c := range cells {
		rate := func(mi int, c cellResult) float64 { return float64(len(c.fails[mi])) / float64(cfg.runs) }
		if c.sc.aa {
			ok := rate(cm, c) <= 0.05 && rate(cm, c) < rate(2, c)
			fmt.Fprintf(w, "- %s, %s req/s: false rollback %.1f%% ≤ α 5%% and below the fixed threshold's %.1f%%: %s\n",
				c.sc.name, trimFloat(c.rps), 100*rate(cm, c), 100*rate(2, c), yes(ok))
			continue
		}
		if c.sc.kind == errorRate && c.sc.canary < 0.02 {
			continue
		}
		if c.sc.kind == latency {
			continue
		}
		a := aa[fmt.Sprint(c.sc.kind, c.rps)]
		ct, cok := medianTTD(c.fails[cm], cfg.runs)
		kt, kok := medianTTD(c.fails[km], cfg.runs)
		fast := cok && (!kok || 2*ct <= kt)
		fair := rate(cm, a) <= rate(km, a)
		desc := fmt.Sprintf("coalmine %s vs Kayenta %s", ttdText(ct, cok, cfg.horizon), ttdText(kt, kok, cfg.horizon))
		fmt.Fprintf(w, "- %s, %s req/s: median time to detect at most half of Kayenta's (%s): %s; at equal or lower A/A false rollback (%.1f%% vs %.1f%%): %s\n",
			c.sc.name, trimFloat(c.rps), desc, yes(fast), 100*rate(cm, a), 100*rate(km, a), yes(fair))
	}
}

func ttdText(t int, ok bool, horizon int) string {
	if !ok {
		return fmt.Sprintf(">%d min", horizon)
	}
	return fmt.Sprintf("%d min", t)
}

func yes(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func trimFloat(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

func itoa(n int) string { return strconv.Itoa(n) }
