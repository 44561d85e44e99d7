package demo

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/workflows"
)

// progress shows a rollout's status as it moves: on a terminal a block
// redrawn in place, otherwise one line per event and per new verdict.
type progress struct {
	w      io.Writer
	tty    bool
	render func(io.Writer, workflows.Status, time.Time)
	// lines is the height of the block drawn last (tty); width and height
	// bound the block, so that long lines never wrap and break the redraw.
	lines         int
	width, height int
	notes         []string
	// seen counts the events printed; verdicts the last verdict printed per metric.
	seen     int
	verdicts map[string]string
	start    time.Time
}

func newProgress(w io.Writer, tty bool, render func(io.Writer, workflows.Status, time.Time)) *progress {
	if render == nil {
		render = compactStatus
	}
	return &progress{w: w, tty: tty, render: render, verdicts: map[string]string{}}
}

// note adds a line said by the demo itself.
func (p *progress) note(s string) {
	if p.tty {
		p.notes = append(p.notes, "demo: "+s)
		return
	}
	fmt.Fprintf(p.w, "  %s  demo        %s\n", p.clock(time.Now()), s)
}

func (p *progress) clock(t time.Time) string {
	if p.start.IsZero() {
		return "  +0.0s"
	}
	return fmt.Sprintf("%+6.1fs", t.Sub(p.start).Seconds())
}

// show draws the status.
func (p *progress) show(st workflows.Status, now time.Time) {
	if p.start.IsZero() && !st.StartedAt.IsZero() {
		p.start = st.StartedAt
	}
	if p.tty {
		var b bytes.Buffer
		p.render(&b, st, now)
		for _, n := range p.notes {
			fmt.Fprintln(&b, n)
		}
		block := fitBlock(b.String(), p.width, p.height)
		if p.lines > 0 {
			fmt.Fprintf(p.w, "\033[%dA\033[J", p.lines)
		}
		p.lines = strings.Count(block, "\n")
		_, _ = io.WriteString(p.w, block)
		return
	}
	// Events the status no longer holds were dropped; print from what it has.
	first := p.seen - st.EventsDropped
	for _, e := range st.Events[max(0, first):] {
		fmt.Fprintf(p.w, "  %s  %-11s %s\n", p.clock(e.At), e.Kind, e.Message)
	}
	p.seen = st.EventsDropped + len(st.Events)
	for _, group := range [][]workflows.MetricStatus{st.Analysis, st.Background} {
		for _, m := range group {
			last, ok := m.History.Last()
			if !ok {
				continue
			}
			key := m.Template + "/" + m.Metric
			line := string(last.Verdict) + numbers(last)
			if p.verdicts[key] == line {
				continue
			}
			p.verdicts[key] = line
			fmt.Fprintf(p.w, "  %s  %-11s %s: %s — %s\n", p.clock(last.At), "measured", key, line, last.Reason)
		}
	}
}

// fitBlock cuts every line of block to width-1 characters and keeps its
// last height-2 lines, so the terminal never wraps or scrolls it.
func fitBlock(block string, width, height int) string {
	if width <= 0 {
		width = 120
	}
	if height <= 0 {
		height = 40
	}
	lines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
	if keep := max(1, height-2); len(lines) > keep {
		lines = lines[:keep]
	}
	var b strings.Builder
	for _, l := range lines {
		if r := []rune(l); len(r) > width-1 {
			l = string(r[:max(1, width-2)]) + "…"
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// done ends the block, so the next output starts below it.
func (p *progress) done() { p.lines = 0 }

// compactStatus is the demo's own rendering of a status.
func compactStatus(w io.Writer, st workflows.Status, now time.Time) {
	fmt.Fprintf(w, "%s %s → %s  %-12s %s  weight %s%%\n", st.App, st.Stable.Name, st.Canary.Name, st.Phase, st.CurrentStep(),
		strconv.FormatFloat(st.Weight, 'f', -1, 64))
	if st.Waiting != "" {
		fmt.Fprintf(w, "  waiting for %s", st.Waiting)
		if !st.WaitUntil.IsZero() {
			fmt.Fprintf(w, " (%s left)", max(0, st.WaitUntil.Sub(now)).Round(100*time.Millisecond))
		}
		fmt.Fprintln(w)
	}
	for _, group := range [][]workflows.MetricStatus{st.Analysis, st.Background} {
		for _, m := range group {
			last, ok := m.History.Last()
			if !ok {
				fmt.Fprintf(w, "  %-32s not measured yet\n", m.Template+"/"+m.Metric)
				continue
			}
			fmt.Fprintf(w, "  %-32s %-12s %s\n", m.Template+"/"+m.Metric, last.Verdict, strings.TrimPrefix(numbers(last), " "))
		}
	}
	for _, v := range st.Verdicts {
		fmt.Fprintf(w, "  verdict %-10s %-12s %s\n", v.Analysis, v.Phase, v.Reason)
	}
	if n := len(st.Events); n > 0 {
		fmt.Fprintf(w, "  last event: %s\n", st.Events[n-1].Message)
	}
}

// numbers renders a measurement's values: " (canary 0.52, stable 0.4)".
func numbers(m analysis.Measurement) string {
	var parts []string
	for _, p := range []struct {
		name string
		v    []float64
	}{{"canary", m.Canary}, {"stable", m.Stable}} {
		if len(p.v) > 0 {
			parts = append(parts, p.name+" "+strconv.FormatFloat(p.v[0], 'g', 3, 64))
		}
	}
	if len(parts) == 0 && len(m.Result) > 0 {
		parts = append(parts, "result "+strconv.FormatFloat(m.Result[0], 'g', 3, 64))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
