package main

import (
	"fmt"
	"io"

	"github.com/coalmine-dev/coalmine/analysis"
)

// The threshold table of a typical rollback-triggers list: error rate at
// most 2× stable's and at most 5%; p99 latency at most 1.5× stable's.
const (
	tableMaxIncrease   = 1.0 // error rate ≤ (1+1.0) × stable
	tableMaxErrorRate  = 0.05
	tableLatencyFactor = 1.5 // p99 ≤ 1.5 × stable's
	tableAlpha         = 0.05
)

var tableScenarios = []scenario{
	{name: "A/A error rate 1%", kind: errorRate, stable: 0.01, canary: 0.01, aa: true},
	{name: "error rate 1% → 3%", kind: errorRate, stable: 0.01, canary: 0.03},
	{name: "error rate 1% → 6%", kind: errorRate, stable: 0.01, canary: 0.06},
	{name: "A/A latency", kind: latency, stable: 1, canary: 1, aa: true},
	{name: "latency ×2 (p99 +100%)", kind: latency, stable: 1, canary: 2},
	{name: "latency ×3 (p99 +200%)", kind: latency, stable: 1, canary: 3},
}

func tableMethods() []method {
	return []method{tablePoint(), tableConfidence()}
}

// tablePoint judges the table on each minute's point estimates and rolls
// back at the first broken limit: `compare: {method: point}` with
// failureLimit 0.
func tablePoint() method {
	return method{
		name: "threshold table, point estimates",
		judge: func(r *rollout) (outcome, error) {
			for k, m := range r.mins {
				nc, ns := m.n[canaryArm], m.n[stableArm]
				if nc == 0 || ns == 0 {
					continue // waiting for data
				}
				var bad bool
				switch r.sc.kind {
				case errorRate:
					c, s := float64(m.bad[canaryArm])/float64(nc), float64(m.bad[stableArm])/float64(ns)
					bad = c > (1+tableMaxIncrease)*s || c > tableMaxErrorRate
				case latency:
					c := histogramQuantile(0.99, latencyBuckets, m.hist[canaryArm])
					s := histogramQuantile(0.99, latencyBuckets, m.hist[stableArm])
					bad = c > tableLatencyFactor*s
				}
				if bad {
					return outcome{failAt: k + 1}, nil
				}
			}
			return outcome{}, nil
		},
	}
}

// tableConfidence judges the table as coalmine's compare does by default:
// analysis.ConfidenceLimits on the cumulative counters, one look a minute,
// rolling back at the first Fail and watching to the end.
func tableConfidence() method {
	return method{
		name: "threshold table, with confidence (α=0.05)",
		judge: func(r *rollout) (outcome, error) {
			inc := tableMaxIncrease
			lim := analysis.ConfidenceLimits{Kind: analysis.KindProportion, MaxRelativeIncrease: &inc, Alpha: tableAlpha}
			maxRate := tableMaxErrorRate
			lim.MaxAbsolute = &maxRate
			if r.sc.kind == latency {
				f := tableLatencyFactor - 1
				lim = analysis.ConfidenceLimits{Kind: analysis.KindHistogram, Quantile: 0.99, MaxRelativeIncrease: &f, Alpha: tableAlpha}
			}
			var tot [2]analysis.Totals
			for _, m := range r.pre {
				addTotals(&tot, m, r.sc.kind)
			}
			_, st, err := lim.Look(analysis.ConfidenceState{}, tot[stableArm], tot[canaryArm])
			if err != nil {
				return outcome{}, fmt.Errorf("baseline look: %w", err)
			}
			var out outcome
			for k, m := range r.mins {
				addTotals(&tot, m, r.sc.kind)
				var res analysis.Measurement
				res, st, err = lim.Look(st, tot[stableArm], tot[canaryArm])
				if err != nil {
					return outcome{}, fmt.Errorf("look %d: %w", k+1, err)
				}
				switch res.Verdict {
				case analysis.Fail:
					out.failAt = k + 1
					return out, nil
				case analysis.Pass:
					if out.passAt == 0 {
						out.passAt = k + 1
					}
				case analysis.Error:
					return outcome{}, fmt.Errorf("look %d: %s", k+1, res.Reason)
				}
			}
			return out, nil
		},
	}
}

// reportTable prints the threshold-table rows: false rollbacks in A/A,
// detection and median time to detect for regressions.
func reportTable(w io.Writer, cfg config, cells []cellResult) {
	ms := tableMethods()
	fmt.Fprintf(w, "\nThreshold table (error rate ≤ 2× stable's and ≤ 5%%; p99 ≤ 1.5× stable's), failureLimit 0:\n\n")
	tableHeader(w, ms)
	for _, c := range cells {
		fmt.Fprintf(w, "| %s | %s |", c.sc.name, trimFloat(c.rps))
		for mi := range ms {
			rate := 100 * float64(len(c.fails[mi])) / float64(cfg.runs)
			cell := fmt.Sprintf("%.1f%% detected", rate)
			if c.sc.aa {
				cell = fmt.Sprintf("**%.1f%%** false rollback", rate)
			} else if ttd, ok := medianTTD(c.fails[mi], cfg.runs); ok {
				cell += fmt.Sprintf(", median **%d min**", ttd)
			} else {
				cell += fmt.Sprintf(", median >%d min", cfg.horizon)
			}
			fmt.Fprintf(w, " %s |", cell)
		}
		fmt.Fprintln(w)
	}
	for _, c := range cells {
		if c.sc.aa {
			rate := float64(len(c.fails[1])) / float64(cfg.runs)
			fmt.Fprintf(w, "- %s, %s req/s: confidence form's false rollback %.1f%% ≤ α 5%%: %s\n", c.sc.name, trimFloat(c.rps), 100*rate, yes(rate <= tableAlpha))
		}
	}
}
