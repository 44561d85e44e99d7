package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"
)

// report prints the table of faults and the times to 0% canary.
func (h *harness) report(w io.Writer, took time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(w, "\nChaos run, %s, %d CPUs, %s, %d kills (SIGKILL), %d rollouts wrong\n\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), took.Round(time.Second), h.kills, h.wrong)
	fmt.Fprintln(w, "| fault | rollouts | kills | correct |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, r := range h.rows {
		fmt.Fprintf(w, "| %s | %d | %d | %d |\n", r.fault, r.runs, r.kills, r.correct)
	}
	fmt.Fprintln(w, "\n| time to 0% canary at the gateway | n | p50 | max |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, z := range []struct {
		name string
		d    []time.Duration
	}{
		{"no kill: from the abort", h.zeroNoKill},
		{"worker killed (failing analysis, reset, abort): from the new worker's start", h.zeroKill},
		{"two workers, one killed right after the abort: from the abort", h.zeroTwo},
	} {
		p50, mx := quantiles(z.d)
		fmt.Fprintf(w, "| %s | %d | %s | %s |\n", z.name, len(z.d), p50, mx)
	}
	fmt.Fprintf(w, "\nload through the gateway: %d answered, %d failed (requests while the gateway was down)\n", h.loadOK.Load(), h.loadErr.Load())
}

// quantiles returns the median and the maximum.
func quantiles(d []time.Duration) (p50, mx string) {
	if len(d) == 0 {
		return "-", "-"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	f := func(x time.Duration) string { return fmt.Sprintf("%.2f s", x.Seconds()) }
	return f(s[len(s)/2]), f(s[len(s)-1])
}
