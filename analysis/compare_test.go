package analysis

import (
	"math"
	"strings"
	"testing"
)

func fp(x float64) *float64 { return &x }
func nan() float64          { return math.NaN() }
func inf() float64          { return math.Inf(1) }

func TestCompare(t *testing.T) {
	tests := []struct {
		name           string
		stable, canary float64
		limits         CompareLimits
		want           Verdict
		wantReason     string
	}{
		{"relative increase broken", 0.012, 0.031, CompareLimits{MaxRelativeIncrease: fp(2.0)}, Fail, "canary error rate 0.031 is 2.58× stable's 0.012, above the 2× allowed"},
		{"relative increase held", 0.012, 0.02, CompareLimits{MaxRelativeIncrease: fp(2.0)}, Pass, "1.67× stable (up to 2× allowed)"},
		{"relative increase at limit", 0.01, 0.02, CompareLimits{MaxRelativeIncrease: fp(2.0)}, Pass, ""},
		{"relative decrease broken", 0.95, 0.8, CompareLimits{MaxRelativeDecrease: fp(0.1)}, Fail, "below the 0.9× allowed (at most 10% lower)"},
		{"relative decrease held", 0.95, 0.9, CompareLimits{MaxRelativeDecrease: fp(0.1)}, Pass, "down to 0.9× allowed"},
		{"absolute max broken", 0.01, 0.07, CompareLimits{MaxAbsolute: fp(0.05)}, Fail, "is 0.06 above stable's 0.01, more than the 0.05 allowed"},
		{"absolute max held", 0.01, 0.05, CompareLimits{MaxAbsolute: fp(0.05)}, Pass, "+0.04 above stable"},
		{"absolute min broken", 0.95, 0.9, CompareLimits{MinAbsolute: fp(-0.02)}, Fail, "0.05 below stable's 0.95, more than the 0.02 allowed"},
		{"absolute min held", 0.95, 0.94, CompareLimits{MinAbsolute: fp(-0.02)}, Pass, ""},
		{"both broken, both named", 0.01, 0.1, CompareLimits{MaxRelativeIncrease: fp(2), MaxAbsolute: fp(0.05)}, Fail, "allowed; canary"},
		{"one of two broken fails", 0.001, 0.003, CompareLimits{MaxRelativeIncrease: fp(2), MaxAbsolute: fp(0.05)}, Fail, "above the 2× allowed"},
		{"stable zero canary zero", 0, 0, CompareLimits{MaxRelativeIncrease: fp(2)}, Pass, ""},
		{"stable zero canary above", 0, 0.01, CompareLimits{MaxRelativeIncrease: fp(2)}, Fail, "infinitely above"},
		{"stable missing", nan(), 0.01, CompareLimits{MaxRelativeIncrease: fp(2)}, Inconclusive, "no data for stable's error rate"},
		{"canary missing", 0.01, nan(), CompareLimits{MaxRelativeIncrease: fp(2)}, Inconclusive, "no data for canary's error rate"},
		{"both missing", nan(), nan(), CompareLimits{MaxRelativeIncrease: fp(2)}, Inconclusive, "either version"},
		{"no limits is an error", 0.01, 0.01, CompareLimits{}, Error, "no limit set"},
		{"bad decrease is an error", 0.01, 0.01, CompareLimits{MaxRelativeDecrease: fp(1.5)}, Error, "fraction from 0 to 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Compare("error rate", tt.stable, tt.canary, 1000, 50, tt.limits)
			if m.Verdict != tt.want || !strings.Contains(m.Reason, tt.wantReason) {
				t.Fatalf("Compare = %s %q, want %s containing %q", m.Verdict, m.Reason, tt.want, tt.wantReason)
			}
			if m.StableSamples != 1000 || m.CanarySamples != 50 {
				t.Fatalf("sample sizes not recorded: %+v", m)
			}
		})
	}
}

func TestCompareLimitsValidate(t *testing.T) {
	tests := []struct {
		name    string
		limits  CompareLimits
		wantErr string
	}{
		{"ok", CompareLimits{MaxRelativeIncrease: fp(2), MaxAbsolute: fp(0.05)}, ""},
		{"zero ratio", CompareLimits{MaxRelativeIncrease: fp(0)}, "ratio above 0"},
		{"NaN", CompareLimits{MaxAbsolute: fp(nan())}, "finite"},
		{"min above max", CompareLimits{MaxAbsolute: fp(0.01), MinAbsolute: fp(0.02)}, "above maxAbsolute"},
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
