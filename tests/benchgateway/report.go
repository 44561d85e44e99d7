package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// report prints the tables: per concurrency, each target's times as the
// client saw them, what it added over direct, and its cost per stream.
func report(w io.Writer, targets []target, concs []int, ramp, window time.Duration, results map[string]map[int]*phaseResult, sat map[string]float64) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "Gateway benchmark (LLM-shaped), %s, host %s, %d CPUs shared with the load generator and the backend\n",
		time.Now().UTC().Format(time.RFC3339), host, runtime.NumCPU())
	fmt.Fprintf(w, "Backend: first chunk after 200 ms, then one every 20–40 ms for 5–20 s. Streams start over %s; measured over the next %s.\n\n", ramp, window)
	for _, c := range concs {
		d := results["direct"][c]
		fmt.Fprintf(w, "**%d concurrent streams**\n\n", c)
		fmt.Fprintln(w, "| target | streams done / errors | TTFT p50 / p99 | path's part of TTFT p50 / p99 | of which the request's way p50 / p99 | added TTFT p50 / p99 | chunk delay p50 / p99 | added chunk delay p99 | CPU per stream-second | RSS per stream |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
		for _, t := range targets {
			r := results[t.name][c]
			if r == nil {
				continue
			}
			added := func(h, base *hist, q float64) string {
				if t.name == "direct" {
					return "—"
				}
				return ms(h.quantile(q) - base.quantile(q))
			}
			cpu := float64(r.cpu) / float64(time.Microsecond) / window.Seconds() / float64(c)
			fmt.Fprintf(w, "| %s | %d / %d | %s / %s | %s / %s | %s / %s | %s / %s | %s / %s | %s | %.0f µs | %.1f KiB |\n",
				t.name, r.streams.Load(), r.errors.Load(),
				ms(r.ttft.quantile(0.5)), ms(r.ttft.quantile(0.99)),
				ms(r.ttftOverhead.quantile(0.5)), ms(r.ttftOverhead.quantile(0.99)),
				ms(r.toBackend.quantile(0.5)), ms(r.toBackend.quantile(0.99)),
				added(&r.ttftOverhead, &d.ttftOverhead, 0.5), added(&r.ttftOverhead, &d.ttftOverhead, 0.99),
				ms(r.chunk.quantile(0.5)), ms(r.chunk.quantile(0.99)), added(&r.chunk, &d.chunk, 0.99),
				cpu, float64(r.rss)/1024/float64(c))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Saturation with instant answers (wrk, 64 connections), requests/s:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| direct | gateway | nginx | httputil.ReverseProxy |")
	fmt.Fprintln(w, "|---|---|---|---|")
	fmt.Fprintf(w, "| %.0f | %.0f | %.0f | %.0f |\n", sat["direct"], sat["gateway"], sat["nginx"], sat["httputil.ReverseProxy"])
	fmt.Fprintln(w, "\nThe direct row's CPU and RSS are the backend's own; the others are the proxy's alone.")
}
