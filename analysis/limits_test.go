package analysis

import (
	"encoding/json"
	"strings"
	"testing"
)

func intp(n int) *int { return &n }

// history builds a History from verdict letters: P, F, I, E; a trailing
// "!" on P or F marks a final (sequential) decision, a trailing "~" on I a
// pending look of a sequential test.
func history(t *testing.T, seq string) History {
	t.Helper()
	var h History
	for _, tok := range strings.Fields(seq) {
		m := Measurement{Reason: "look " + tok}
		m.Pending = strings.HasSuffix(tok, "~")
		switch strings.TrimSuffix(strings.TrimSuffix(tok, "!"), "~") {
		case "P":
			m.Verdict = Pass
		case "F":
			m.Verdict = Fail
		case "I":
			m.Verdict = Inconclusive
		case "E":
			m.Verdict = Error
		default:
			t.Fatalf("bad token %q", tok)
		}
		m.Final = strings.HasSuffix(tok, "!")
		h.Add(m)
	}
	return h
}

func TestAssess(t *testing.T) {
	tests := []struct {
		name        string
		seq         string
		limits      Limits
		terminating bool
		want        Phase
		wantGate    Phase
	}{
		{"no measurements", "", Limits{}, false, PhaseRunning, PhaseRunning},
		{"no measurements terminating", "", Limits{}, true, PhaseInconclusive, PhaseInconclusive},
		{"first fail fails by default", "P F", Limits{}, false, PhaseFailed, PhaseFailed},
		{"failure limit tolerates", "F P F", Limits{FailureLimit: intp(2)}, false, PhaseRunning, PhaseRunning},
		{"failure limit exceeded", "F P F F", Limits{FailureLimit: intp(2)}, false, PhaseFailed, PhaseFailed},
		{"failure limit unlimited", "F F F F F", Limits{FailureLimit: intp(-1), Count: 5}, false, PhaseInconclusive, PhaseInconclusive},
		{"first inconclusive by default", "P I", Limits{}, false, PhaseInconclusive, PhaseInconclusive},
		{"inconclusive limit tolerates", "I P", Limits{InconclusiveLimit: intp(1), Count: 2}, false, PhaseSuccessful, PhaseSuccessful},
		{"four errors in a row tolerated", "E E E E", Limits{}, false, PhaseRunning, PhaseRunning},
		{"five errors in a row", "E E E E E", Limits{}, false, PhaseError, PhaseError},
		{"errors interrupted", "E E E P E E E", Limits{}, false, PhaseRunning, PhaseRunning},
		{"consecutive error limit 0", "P E", Limits{ConsecutiveErrorLimit: intp(0)}, false, PhaseError, PhaseError},
		{"failure beats inconclusive", "I F", Limits{}, false, PhaseFailed, PhaseFailed},
		{"count reached", "P P P", Limits{Count: 3}, false, PhaseSuccessful, PhaseSuccessful},
		{"count not reached", "P P", Limits{Count: 3}, false, PhaseRunning, PhaseRunning},
		{"count reached with errors only is not a pass", "E E E", Limits{Count: 3}, false, PhaseInconclusive, PhaseInconclusive},
		{"terminating with passes", "P P", Limits{}, true, PhaseSuccessful, PhaseSuccessful},
		{"final pass ends early", "I! P!", Limits{InconclusiveLimit: intp(-1), Count: 100}, false, PhaseSuccessful, PhaseSuccessful},
		{"final fail", "F!", Limits{}, false, PhaseFailed, PhaseFailed},
		{"final fail beats the failure limit", "P F!", Limits{FailureLimit: intp(3)}, false, PhaseFailed, PhaseFailed},
		{"plain fail within the failure limit", "P F", Limits{FailureLimit: intp(3)}, false, PhaseRunning, PhaseRunning},
		{"pending looks are not inconclusive", "I~ I~ I~", Limits{}, false, PhaseRunning, PhaseRunning},
		{"pending then final fail", "I~ I~ F!", Limits{}, false, PhaseFailed, PhaseFailed},
		{"pending then final pass", "I~ I~ P!", Limits{Count: 10}, false, PhaseSuccessful, PhaseSuccessful},
		{"still pending at the end", "I~ I~", Limits{}, true, PhaseInconclusive, PhaseInconclusive},
		{"dry run fail does not gate", "F", Limits{DryRun: true}, false, PhaseFailed, PhaseSuccessful},
		{"dry run running", "P", Limits{DryRun: true}, false, PhaseRunning, PhaseRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := history(t, tt.seq)
			got := Assess(h, tt.limits, tt.terminating)
			if got.Phase != tt.want || got.Gate() != tt.wantGate {
				t.Fatalf("Assess = %s (gate %s), want %s (gate %s); reason: %s", got.Phase, got.Gate(), tt.want, tt.wantGate, got.Reason)
			}
			if got.Reason == "" {
				t.Fatal("empty reason")
			}
		})
	}
}

func TestAssessReason(t *testing.T) {
	h := history(t, "P F")
	got := Assess(h, Limits{}, false)
	want := "1 of 2 measurements failed, above the failure limit of 0; last: look F"
	if got.Reason != want {
		t.Fatalf("reason = %q, want %q", got.Reason, want)
	}
}

func TestHistoryBounded(t *testing.T) {
	h := History{Keep: 3}
	for i := 0; i < 10; i++ {
		v := Pass
		if i%2 == 1 {
			v = Inconclusive
		}
		h.Add(Measurement{Verdict: v, Reason: "x"})
	}
	if len(h.Measurements) != 3 || h.Count != 10 || h.Passed != 5 || h.Inconclusive != 5 {
		t.Fatalf("history = %d kept, count %d, passed %d, inconclusive %d", len(h.Measurements), h.Count, h.Passed, h.Inconclusive)
	}
	h.Add(Measurement{Verdict: "Bogus"})
	if last, _ := h.Last(); last.Verdict != Error || h.Errors != 1 {
		t.Fatalf("unknown verdict recorded as %s, errors %d", last.Verdict, h.Errors)
	}
	var d History
	for i := 0; i < DefaultKeep+5; i++ {
		d.Add(Measurement{Verdict: Pass})
	}
	if len(d.Measurements) != DefaultKeep {
		t.Fatalf("default keep = %d, want %d", len(d.Measurements), DefaultKeep)
	}
}

func TestHistoryJSONRoundTrip(t *testing.T) {
	h := history(t, "P F I E P!")
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back History
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if Assess(back, Limits{FailureLimit: intp(3), InconclusiveLimit: intp(3)}, false) != Assess(h, Limits{FailureLimit: intp(3), InconclusiveLimit: intp(3)}, false) {
		t.Fatalf("assessment changed after a JSON round trip: %s", b)
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name    string
		limits  Limits
		wantErr string
	}{
		{"defaults", Limits{}, ""},
		{"unlimited", Limits{FailureLimit: intp(-1), InconclusiveLimit: intp(-1), ConsecutiveErrorLimit: intp(-1)}, ""},
		{"bad failure limit", Limits{FailureLimit: intp(-2)}, "failureLimit is -2"},
		{"negative count", Limits{Count: -1}, "count is -1"},
		{"negative interval", Limits{Interval: -1}, "interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.limits.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestWorst(t *testing.T) {
	tests := []struct {
		name   string
		phases []Phase
		want   Phase
	}{
		{"none", nil, PhaseInconclusive},
		{"all successful", []Phase{PhaseSuccessful, PhaseSuccessful}, PhaseSuccessful},
		{"running", []Phase{PhaseSuccessful, PhaseRunning}, PhaseRunning},
		{"inconclusive beats running", []Phase{PhaseRunning, PhaseInconclusive}, PhaseInconclusive},
		{"error beats inconclusive", []Phase{PhaseError, PhaseInconclusive}, PhaseError},
		{"failed beats all", []Phase{PhaseError, PhaseFailed, PhaseRunning}, PhaseFailed},
		{"unknown is error", []Phase{"Weird"}, PhaseError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Worst(tt.phases...); got != tt.want {
				t.Fatalf("Worst = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWaitingLooksCountTowardNothing(t *testing.T) {
	zero := 0
	l := Limits{FailureLimit: &zero, InconclusiveLimit: &zero, Count: 2}
	var h History
	for range 3 {
		h.Add(Waiting("no data: no canary requests"))
	}
	a := Assess(h, l, false)
	if a.Phase != PhaseRunning || h.Waiting != 3 || h.Inconclusive != 0 || !strings.Contains(a.Reason, "waiting for data after 3 measurements") {
		t.Fatalf("after three looks without data: %s (%s), history %+v", a.Phase, a.Reason, h)
	}
	h.Add(Measurement{Verdict: Pass})
	h.Add(Measurement{Verdict: Pass})
	if a := Assess(h, l, false); a.Phase != PhaseSuccessful {
		t.Errorf("after two passes: %s (%s), want the count of 2 reached", a.Phase, a.Reason)
	}
	if m := Waiting("x"); m.Label() != "waiting for data" || (Measurement{Verdict: Fail}).Label() != "Fail" {
		t.Errorf("labels: %q", m.Label())
	}
}
