package analysis

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Phase is the state of one metric's analysis after its measurements so far,
// as Argo Rollouts' metric phase. The workflow acts on it: Failed rolls back,
// Inconclusive pauses for a human, Successful lets the rollout go on.
type Phase string

// The phases of a metric's analysis.
const (
	// PhaseRunning means more measurements are due.
	PhaseRunning Phase = "Running"
	// PhaseSuccessful means the metric is done and did not break a limit.
	PhaseSuccessful Phase = "Successful"
	// PhaseFailed means failureLimit was exceeded.
	PhaseFailed Phase = "Failed"
	// PhaseInconclusive means inconclusiveLimit was exceeded, or the metric
	// ended without a single passing measurement.
	PhaseInconclusive Phase = "Inconclusive"
	// PhaseError means consecutiveErrorLimit was exceeded.
	PhaseError Phase = "Error"
)

// DefaultConsecutiveErrorLimit is Argo Rollouts' default for consecutiveErrorLimit.
const DefaultConsecutiveErrorLimit = 4

// DefaultKeep is how many measurements a History keeps when Keep is unset.
const DefaultKeep = 10

// Limits turn a series of measurements into a metric's phase. The field names
// and defaults follow Argo Rollouts: nil FailureLimit and InconclusiveLimit
// mean 0 (the first Fail fails the metric), nil ConsecutiveErrorLimit means 4,
// and -1 means unlimited.
type Limits struct {
	// FailureLimit is how many Fail measurements are tolerated.
	FailureLimit *int `json:"failureLimit,omitempty"`
	// InconclusiveLimit is how many Inconclusive measurements are tolerated.
	InconclusiveLimit *int `json:"inconclusiveLimit,omitempty"`
	// ConsecutiveErrorLimit is how many Error measurements in a row are tolerated.
	ConsecutiveErrorLimit *int `json:"consecutiveErrorLimit,omitempty"`
	// Count is how many measurements to take; 0 means until the analysis is stopped.
	Count int `json:"count,omitempty"`
	// Interval is the time between measurements; the workflow schedules them.
	Interval time.Duration `json:"interval,omitempty"`
	// InitialDelay is the wait before the first measurement.
	InitialDelay time.Duration `json:"initialDelay,omitempty"`
	// DryRun records measurements and the phase but never fails the gate.
	DryRun bool `json:"dryRun,omitempty"`
}

func limitOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// Validate reports limits that cannot be applied: negative values other
// than -1 (unlimited), a negative count or negative durations.
func (l Limits) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    *int
	}{{"failureLimit", l.FailureLimit}, {"inconclusiveLimit", l.InconclusiveLimit}, {"consecutiveErrorLimit", l.ConsecutiveErrorLimit}} {
		if f.v != nil && *f.v < -1 {
			errs = append(errs, fmt.Errorf("%s is %d; use -1 for unlimited or a count of 0 or more", f.name, *f.v))
		}
	}
	if l.Count < 0 {
		errs = append(errs, fmt.Errorf("count is %d; use 0 for unlimited or a positive count", l.Count))
	}
	if l.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval %s is negative", l.Interval))
	}
	if l.InitialDelay < 0 {
		errs = append(errs, fmt.Errorf("initialDelay %s is negative", l.InitialDelay))
	}
	return errors.Join(errs...)
}

// History is the bounded record of one metric's measurements: counters over
// every measurement taken, and the last Keep measurements themselves. It is
// plain data so the workflow can keep it in its status.
type History struct {
	// Measurements are the most recent measurements, oldest first.
	Measurements []Measurement `json:"measurements,omitempty"`
	// Keep bounds len(Measurements); 0 means DefaultKeep.
	Keep int `json:"keep,omitempty"`
	// Count is the number of measurements taken, kept or not.
	Count int `json:"count"`
	// Passed, Failed, Inconclusive and Errors count measurements by verdict.
	Passed       int `json:"passed"`
	Failed       int `json:"failed"`
	Inconclusive int `json:"inconclusive"`
	Errors       int `json:"errors"`
	// Pending counts Inconclusive looks of a sequential test still gathering
	// evidence; they are not counted in Inconclusive.
	Pending int `json:"pending,omitempty"`
	// Waiting counts looks that found no data (Measurement.NoData); they
	// count toward no limit and not toward Count.
	Waiting int `json:"waiting,omitempty"`
	// ConsecutiveErrors counts the Error measurements since the last other one.
	ConsecutiveErrors int `json:"consecutiveErrors"`
	// Final is set once a measurement ended the metric (a sequential decision).
	Final bool `json:"final,omitempty"`
	// LastError is the reason of the latest Error measurement, kept when
	// later measurements push it out of Measurements.
	LastError string `json:"lastError,omitempty"`
	// LastErrorAt is when that measurement was taken.
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
}

// Add records m, updates the counters and drops the oldest measurements
// beyond Keep. A measurement with an unknown verdict is recorded as Error.
func (h *History) Add(m Measurement) {
	if !m.Verdict.Valid() {
		m.Reason = fmt.Sprintf("unknown verdict %q: %s", m.Verdict, m.Reason)
		m.Verdict = Error
	}
	h.Count++
	switch m.Verdict {
	case Pass:
		h.Passed++
	case Fail:
		h.Failed++
	case Inconclusive:
		if m.NoData {
			h.Waiting++
		} else if m.Pending {
			h.Pending++
		} else {
			h.Inconclusive++
		}
	case Error:
		h.Errors++
	}
	if m.Verdict == Error {
		h.ConsecutiveErrors++
		h.LastError, h.LastErrorAt = m.Reason, m.At
	} else {
		h.ConsecutiveErrors = 0
	}
	if m.Final && (m.Verdict == Pass || m.Verdict == Fail) {
		h.Final = true
	}
	keep := h.Keep
	if keep <= 0 {
		keep = DefaultKeep
	}
	h.Measurements = append(h.Measurements, m)
	if over := len(h.Measurements) - keep; over > 0 {
		h.Measurements = append([]Measurement(nil), h.Measurements[over:]...)
	}
}

// Last returns the most recent measurement and whether there is one.
func (h History) Last() (Measurement, bool) {
	if len(h.Measurements) == 0 {
		return Measurement{}, false
	}
	return h.Measurements[len(h.Measurements)-1], true
}

// Assessment is a metric's phase with the reason for it.
type Assessment struct {
	// Phase is the metric's phase from its measurements and limits.
	Phase Phase `json:"phase"`
	// Reason says why, in plain words with numbers.
	Reason string `json:"reason"`
	// DryRun is set when the metric runs in dry-run mode; see Gate.
	DryRun bool `json:"dryRun,omitempty"`
}

// Gate is the phase that counts for the rollout: the phase itself, except
// that a dry-run metric that Failed, was Inconclusive or Errored counts as
// Successful (its result is still recorded in Phase and Reason).
func (a Assessment) Gate() Phase {
	if a.DryRun && (a.Phase == PhaseFailed || a.Phase == PhaseInconclusive || a.Phase == PhaseError) {
		return PhaseSuccessful
	}
	return a.Phase
}

// Assess turns a metric's history into its phase, as Argo Rollouts'
// assessMetricStatus does: the failure, inconclusive and consecutive-error
// limits are checked in that order (the worst wins), a final decision (a
// sequential test's, or a failed sentinel) ends the metric whatever the
// limits, and reaching Count ends it. terminating says the
// analysis is being stopped (the step ended). Unlike Argo, a metric that ends
// without a single Pass is Inconclusive, never Successful: missing data is
// never a Pass.
func Assess(h History, l Limits, terminating bool) Assessment {
	a := assess(h, l, terminating)
	a.DryRun = l.DryRun
	if l.DryRun && a.Gate() != a.Phase {
		a.Reason += " (dry run: recorded, not enforced)"
	}
	return a
}

func assess(h History, l Limits, terminating bool) Assessment {
	// A final Fail (a sequential test's decision, a failed sentinel) ends
	// the metric whatever the failure limit: it will not be measured again.
	if last, ok := h.Last(); ok && h.Final && last.Final && last.Verdict == Fail {
		return Assessment{Phase: PhaseFailed, Reason: "decided after " + plural(h.Count, "measurement") + ": " + last.Reason}
	}
	if fl := limitOr(l.FailureLimit, 0); fl >= 0 && h.Failed > fl {
		return Assessment{Phase: PhaseFailed, Reason: fmt.Sprintf("%d of %d measurements failed, above the failure limit of %d%s", h.Failed, h.Count, fl, lastReason(h, Fail))}
	}
	if il := limitOr(l.InconclusiveLimit, 0); il >= 0 && h.Inconclusive > il {
		return Assessment{Phase: PhaseInconclusive, Reason: fmt.Sprintf("%d of %d measurements were inconclusive, above the inconclusive limit of %d%s", h.Inconclusive, h.Count, il, lastReason(h, Inconclusive))}
	}
	if el := limitOr(l.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit); el >= 0 && h.ConsecutiveErrors > el {
		return Assessment{Phase: PhaseError, Reason: fmt.Sprintf("%d measurements in a row errored, above the consecutive error limit of %d%s", h.ConsecutiveErrors, el, lastReason(h, Error))}
	}
	if h.Final {
		if last, ok := h.Last(); ok && last.Final && last.Verdict == Pass {
			return Assessment{Phase: PhaseSuccessful, Reason: "decided after " + plural(h.Count, "measurement") + ": " + last.Reason}
		}
	}
	done := (l.Count > 0 && h.Count-h.Waiting >= l.Count) || terminating
	if !done {
		if h.Count == 0 {
			return Assessment{Phase: PhaseRunning, Reason: "no measurement yet"}
		}
		if last, ok := h.Last(); ok && last.NoData {
			return Assessment{Phase: PhaseRunning, Reason: fmt.Sprintf("waiting for data after %s (%s): %s", plural(h.Count, "measurement"), tally(h), last.Reason)}
		}
		return Assessment{Phase: PhaseRunning, Reason: fmt.Sprintf("%s so far (%s)", plural(h.Count, "measurement"), tally(h))}
	}
	if h.Passed == 0 {
		if h.Count == 0 {
			return Assessment{Phase: PhaseInconclusive, Reason: "ended without any measurement"}
		}
		return Assessment{Phase: PhaseInconclusive, Reason: fmt.Sprintf("ended after %s without a single pass (%s)", plural(h.Count, "measurement"), tally(h))}
	}
	return Assessment{Phase: PhaseSuccessful, Reason: fmt.Sprintf("%s within limits (%s)", plural(h.Count, "measurement"), tally(h))}
}

// lastReason returns "; last: <reason>" for the latest measurement with verdict v.
func lastReason(h History, v Verdict) string {
	for i := len(h.Measurements) - 1; i >= 0; i-- {
		if h.Measurements[i].Verdict == v {
			return "; last: " + h.Measurements[i].Reason
		}
	}
	return ""
}

// tally renders the counters: "3 passed, 1 inconclusive, 2 still gathering evidence".
func tally(h History) string {
	var parts []string
	for _, c := range []struct {
		n    int
		what string
	}{{h.Passed, "passed"}, {h.Failed, "failed"}, {h.Inconclusive, "inconclusive"}, {h.Errors, "errored"}, {h.Pending, "still gathering evidence"}, {h.Waiting, "waiting for data"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return strings.Join(parts, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// Worst combines the phases of several metrics into the analysis phase:
// Failed beats Error, Error beats Inconclusive, Inconclusive beats Running,
// and all must be Successful for the analysis to be Successful. No phases
// at all is Inconclusive: an analysis without metrics proves nothing.
func Worst(phases ...Phase) Phase {
	if len(phases) == 0 {
		return PhaseInconclusive
	}
	rank := map[Phase]int{PhaseSuccessful: 0, PhaseRunning: 1, PhaseInconclusive: 2, PhaseError: 3, PhaseFailed: 4}
	worst := PhaseSuccessful
	for _, p := range phases {
		r, ok := rank[p]
		if !ok {
			r, p = rank[PhaseError], PhaseError
		}
		if r > rank[worst] {
			worst = p
		}
	}
	return worst
}
