package analysis

import (
	"encoding/json"
	"strings"
	"testing"
)

func mustCompile(t *testing.T, src string) *Condition {
	t.Helper()
	c, err := CompileCondition(src)
	if err != nil {
		t.Fatalf("CompileCondition(%q): %v", src, err)
	}
	return c
}

func TestCompileCondition(t *testing.T) {
	tests := []struct {
		src     string
		wantErr string
	}{
		{"result >= 0.95", ""},
		{"result[0] >= 0.95", ""},
		{"canary <= stable * 1.1", ""},
		{"isNaN(result) || result > 1", ""},
		{"", "empty"},
		{"result >=", "compile condition"},
		{"latency > 3", "unknown name latency"},
		{"1 + 2", "want true or false"},
		{"\"text\"", "want true or false"},
		{strings.Repeat("x", maxConditionLen+1), "characters"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := CompileCondition(tt.src)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("CompileCondition(%q) error = %v, want %q", tt.src, err, tt.wantErr)
			}
		})
	}
}

func TestConditionEval(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		in      Inputs
		want    bool
		wantErr string
	}{
		{"scalar", "result >= 0.95", Inputs{Result: []float64{0.96}}, true, ""},
		{"scalar false", "result >= 0.95", Inputs{Result: []float64{0.9}}, false, ""},
		{"argo index on scalar", "result[0] >= 0.95", Inputs{Result: []float64{0.96}}, true, ""},
		{"index on list", "result[1] < 0.01", Inputs{Result: []float64{0.5, 0.001}}, true, ""},
		{"negative index", "result[-1] < 0.01", Inputs{Result: []float64{0.5, 0.001}}, true, ""},
		{"index out of range", "result[2] < 0.01", Inputs{Result: []float64{0.5, 0.001}}, false, "out of range"},
		{"index 1 of scalar", "result[1] < 0.01", Inputs{Result: []float64{0.5}}, false, "out of range"},
		{"list functions", "all(result, # < 1)", Inputs{Result: []float64{0.5, 0.2}}, true, ""},
		{"list as number", "result > 1", Inputs{Result: []float64{0.5, 0.2}}, false, "evaluate condition"},
		{"stable and canary", "canary <= stable * 1.1", Inputs{Stable: []float64{0.1}, Canary: []float64{0.105}}, true, ""},
		{"canary index", "canary[0] > stable[0]", Inputs{Stable: []float64{0.1}, Canary: []float64{0.105}}, true, ""},
		{"missing result", "result > 1", Inputs{}, false, "no value for result"},
		{"NaN result", "result > 1", Inputs{Result: []float64{nan()}}, false, "no value for result"},
		{"missing stable", "canary < stable", Inputs{Canary: []float64{1}}, false, "no value for stable"},
		{"isInf", "isInf(result)", Inputs{Result: []float64{inf()}}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCompile(t, tt.src)
			got, err := c.Eval(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Eval error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Eval = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestEvaluateConditions(t *testing.T) {
	one := func(x float64) Inputs { return Inputs{Result: []float64{x}} }
	tests := []struct {
		name       string
		success    string
		failure    string
		in         Inputs
		want       Verdict
		wantReason string
	}{
		{"success met", "result >= 0.95", "", one(0.97), Pass, "result 0.97 met the success condition `result >= 0.95`"},
		{"success not met fails", "result >= 0.95", "", one(0.9), Fail, "result 0.9 did not meet the success condition `result >= 0.95`"},
		{"failure met", "", "result > 0.05", one(0.06), Fail, "result 0.06 met the failure condition `result > 0.05`"},
		{"failure not met passes", "", "result > 0.05", one(0.01), Pass, "did not meet the failure condition"},
		{"both, success", "result < 0.01", "result > 0.05", one(0.005), Pass, "met the success condition"},
		{"both, failure wins", "result > 0", "result > 0.05", one(0.06), Fail, "met the failure condition"},
		{"both, neither", "result < 0.01", "result > 0.05", one(0.03), Inconclusive, "met neither"},
		{"no conditions with data", "", "", one(1), Pass, "no condition"},
		{"no conditions without data", "", "", Inputs{}, Inconclusive, "no data"},
		{"missing data never passes", "", "result > 0.05", Inputs{}, Inconclusive, "no data: result has no value"},
		{"NaN is missing", "result >= 0.95", "", one(nan()), Inconclusive, "no data"},
		{"eval error", "result[3] > 1", "", one(1), Error, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s, f *Condition
			if tt.success != "" {
				s = mustCompile(t, tt.success)
			}
			if tt.failure != "" {
				f = mustCompile(t, tt.failure)
			}
			m := EvaluateConditions(s, f, tt.in)
			if m.Verdict != tt.want || !strings.Contains(m.Reason, tt.wantReason) {
				t.Fatalf("EvaluateConditions = %s %q, want %s containing %q", m.Verdict, m.Reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestConditionNotCompiled(t *testing.T) {
	var c *Condition
	if _, err := c.Eval(Inputs{Result: []float64{1}}); err == nil {
		t.Fatal("nil condition evaluated without error")
	}
}

func FuzzCondition(f *testing.F) {
	for _, s := range []string{"result >= 0.95", "result[0] < 1", "canary <= stable * 1.1", "all(result, # > 0)", "result[-1] == 0", "len(result) > 2", "1..3"} {
		f.Add(s, 0.5, 0.25, 2)
	}
	f.Fuzz(func(t *testing.T, src string, a, b float64, n int) {
		c, err := CompileCondition(src)
		if err != nil {
			return
		}
		n = n % 5
		if n < 0 {
			n = -n
		}
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = a + float64(i)*b
		}
		in := Inputs{Result: vals, Stable: []float64{a}, Canary: []float64{b}}
		_, _ = c.Eval(in)
		m := EvaluateConditions(c, nil, in)
		if !m.Verdict.Valid() || m.Reason == "" {
			t.Fatalf("EvaluateConditions(%q) = %q %q", src, m.Verdict, m.Reason)
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("measurement does not marshal: %v", err)
		}
	})
}
