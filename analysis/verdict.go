package analysis

import (
	"fmt"
	"math"
	"time"
)

// Verdict is the outcome of one measurement of one metric. It is a named
// string so that it reads well in workflow history and JSON.
type Verdict string

// The four verdicts a measurement can have. Missing data is never a Pass: a
// look without data is Inconclusive, a provider failure is Error.
const (
	// Pass means the canary met the metric's rule at this look.
	Pass Verdict = "Pass"
	// Fail means the canary broke the metric's rule at this look.
	Fail Verdict = "Fail"
	// Inconclusive means there was not enough data, or the statistics cannot tell yet.
	Inconclusive Verdict = "Inconclusive"
	// Error means the measurement could not be taken (the provider failed).
	Error Verdict = "Error"
)

// Valid reports whether v is one of the four known verdicts.
func (v Verdict) Valid() bool {
	switch v {
	case Pass, Fail, Inconclusive, Error:
		return true
	}
	return false
}

// Measurement is one look at one metric: the values seen, the sample sizes
// behind them and the verdict with its reason. It is plain data with JSON
// tags because the workflow keeps it in its status and history.
type Measurement struct {
	// Verdict is the outcome of this look.
	Verdict Verdict `json:"verdict"`
	// Reason says in plain words, with numbers, why the verdict was reached.
	Reason string `json:"reason"`
	// Result holds the metric value(s) the conditions saw as `result`.
	Result Values `json:"result,omitempty"`
	// Stable and Canary hold the per-version values, when the metric compares versions.
	Stable Values `json:"stable,omitempty"`
	Canary Values `json:"canary,omitempty"`
	// StableSamples and CanarySamples are the sample sizes behind the values
	// (requests, evaluations), cumulative over the analysis when known.
	StableSamples int64 `json:"stableSamples,omitempty"`
	CanarySamples int64 `json:"canarySamples,omitempty"`
	// CanaryRoles are the traffic roles the canary's samples include, when
	// the provider knows them: the gateway's "canary" (requests routed to
	// it) and "shadow" (mirrored copies of stable requests it served).
	CanaryRoles []string `json:"canaryRoles,omitempty"`
	// Final marks a decision that ends the metric at once: a sequential test
	// that has shown Pass or Fail does not need more looks.
	Final bool `json:"final,omitempty"`
	// Pending marks an Inconclusive look of a sequential test that is still
	// gathering evidence. Limits do not count it as inconclusive: that is the
	// test's normal state between decisions. A metric that ends while still
	// pending is Inconclusive (see Assess).
	Pending bool `json:"pending,omitempty"`
	// NoData marks a look that found no samples for the canary (or for
	// stable, where the metric compares), or fewer than the metric's
	// minSamples: the metric is waiting for data. Such a look is no
	// verdict at all: limits do not count it, it never passes and never
	// holds. Its Verdict is Inconclusive for readers that do not know the
	// flag.
	NoData bool `json:"noData,omitempty"`
	// At is when the measurement was taken.
	At time.Time `json:"at,omitzero"`
}

// Errored returns a measurement with verdict Error whose reason names the
// failed operation; it is what a measure activity records when its provider fails.
func Errored(at time.Time, err error) Measurement {
	reason := "measurement failed"
	if err != nil {
		reason = "measurement failed: " + err.Error()
	}
	return Measurement{Verdict: Error, Reason: reason, At: at}
}

// Waiting returns a look that is waiting for data, with the reason.
func Waiting(reason string) Measurement {
	return Measurement{Verdict: Inconclusive, NoData: true, Reason: reason}
}

// Label is the verdict as people read it: the verdict, or "waiting for
// data" for a look without enough data.
func (m Measurement) Label() string {
	if m.NoData && m.Verdict == Inconclusive {
		return "waiting for data"
	}
	return string(m.Verdict)
}

// fmtNum formats a number for reasons: short, and without exponent for the
// magnitudes metrics usually have.
func fmtNum(x float64) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 1):
		return "+Inf"
	case math.IsInf(x, -1):
		return "-Inf"
	case x == 0:
		return "0"
	case math.Abs(x) >= 1e6 || math.Abs(x) < 1e-4:
		return fmt.Sprintf("%.3g", x)
	}
	return fmt.Sprintf("%.4g", x)
}
