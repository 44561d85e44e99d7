package plans

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestInvalidPlansGolden loads every plan under testdata/invalid and
// compares all of its diagnostics with the .golden file beside it.
func TestInvalidPlansGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, warns, err := LoadFile(f)
			if err == nil {
				t.Fatalf("plan loaded; want errors")
			}
			var b strings.Builder
			b.WriteString(err.Error())
			b.WriteString("\n")
			for _, w := range warns {
				b.WriteString(w.String())
				b.WriteString("\n")
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run go test ./plans -update): %v", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("diagnostics differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestFiveMistakes is the acceptance case: five different mistakes
// give five errors, each with a line and a field path.
func TestFiveMistakes(t *testing.T) {
	_, _, err := LoadFile("testdata/invalid/five-mistakes.yaml")
	list, ok := err.(ErrorList)
	if !ok {
		t.Fatalf("err = %v (%T), want ErrorList", err, err)
	}
	want := []struct {
		line int
		path string
		has  string
	}{
		{12, "spec.steps[1].pause.duration", `"5 minutes" is not a duration`},
		{13, "spec.steps[2].analysis.templates[0]", "did you mean voice-canary?"},
		{14, "spec.steps[3].setWeight", "not between 0 and 100"},
		{20, "spec.analysisTemplates.voice-canary.metrics[0].provider.web.url", "unknown placeholder {{.Canary.Versoin}}"},
		{21, "spec.analysisTemplates.voice-canary.metrics[0].successCondtion", "did you mean successCondition?"},
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		d := list[i]
		if d.Line != w.line || d.Path != w.path || !strings.Contains(d.String(), w.has) {
			t.Errorf("error %d = %s\nwant line %d, path %s, containing %q", i, d, w.line, w.path, w.has)
		}
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in   string
		want string
		bad  bool
	}{
		{in: "30s", want: "30s"},
		{in: "5m", want: "5m"},
		{in: "1h30m", want: "1h30m"},
		{in: "2h", want: "2h"},
		{in: "1d", want: "24h"},
		{in: "1d12h", want: "36h"},
		{in: "90", want: "1m30s"},
		{in: "250ms", want: "250ms"},
		{in: "5 minutes", bad: true},
		{in: "", bad: true},
		{in: "-5m", bad: true},
		{in: "-3", bad: true},
		{in: "d", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := ParseDuration(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("ParseDuration(%q) = %v, want error", tt.in, d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.String() != tt.want {
				t.Errorf("ParseDuration(%q) = %s, want %s", tt.in, d, tt.want)
			}
			var back Duration
			b, _ := d.MarshalJSON()
			if err := back.UnmarshalJSON(b); err != nil || back != d {
				t.Errorf("JSON round trip of %s gave %s, %v", d, back, err)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	fields := []string{"successCondition", "failureCondition", "interval", "count", "setWeight"}
	tests := map[string]string{
		"successCondtion": "successCondition",
		"intreval":        "interval",
		"setweight":       "setWeight",
		"cnt":             "",
		"banana":          "",
	}
	for in, want := range tests {
		if got := suggest(in, fields); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultsApplied(t *testing.T) {
	p, _, err := LoadFile("examples/voice-agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := p.Spec.AnalysisTemplates["guardrails"].Metrics[0]
	if m.Interval.String() != "30s" || *m.ConsecutiveErrorLimit != DefaultConsecutiveErrorLimit || *m.FailureLimit != 0 {
		t.Errorf("metric defaults: interval %s, consecutiveErrorLimit %d, failureLimit %d", m.Interval, *m.ConsecutiveErrorLimit, *m.FailureLimit)
	}
	g := blockOf(t, m.Provider)
	if g["url"] != "http://127.0.0.1:8480" || g["route"] != "voice-agent" || g["tokenEnv"] != "COALMINE_GATEWAY_TOKEN" {
		t.Errorf("gateway provider did not inherit the traffic block: %+v", g)
	}
	if m.Sequential.MinSamples != DefaultMinSamples || m.Sequential.MinEffect != 0.2 {
		t.Errorf("sequential defaults: %+v", m.Sequential)
	}
	if p.Spec.Rollback.ScaleDownDelay.String() != "30s" {
		t.Errorf("scaleDownDelay = %s", p.Spec.Rollback.ScaleDownDelay)
	}
	var approval *Approval
	for _, s := range p.Spec.Steps {
		if s.Approval != nil {
			approval = s.Approval
		}
	}
	if approval == nil || approval.Channel != "#deploys" || approval.OnTimeout != OnTimeoutRollback {
		t.Errorf("approval defaults: %+v", approval)
	}
	// Defaults are idempotent.
	before := *p
	ApplyDefaults(p)
	if before.Spec.Rollback.ScaleDownDelay != p.Spec.Rollback.ScaleDownDelay {
		t.Error("ApplyDefaults changed a resolved plan")
	}
}

func TestSupports(t *testing.T) {
	if Supports(RouterReplicas, "shadow") || Supports(RouterReplicas, "setSegmentWeight") {
		t.Error("replicas router must not support shadow or segments")
	}
	for _, k := range stepKinds {
		if !Supports(RouterGateway, k) {
			t.Errorf("gateway router must support %s", k)
		}
	}
}

// TestAliasBomb checks that YAML aliases cannot make the loader do
// quadratic or worse work: a thousand segments, each an alias of one with a
// thousand users, each an alias of one string.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: coalmine.dev/v1\nkind: RolloutPlan\nmetadata: {name: x}\nspec:\n  app: x\n  segments:\n")
	b.WriteString("    - &seg {name: a, users: [&u user")
	for range 1000 {
		b.WriteString(", *u")
	}
	b.WriteString("]}\n")
	for range 1000 {
		b.WriteString("    - *seg\n")
	}
	_, _, err := Load("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("alias bomb: err = %.200v", err)
	}
}

// blockOf returns the fields of a provider's block as its JSON gives them:
// the block types live with the providers, which plans' own tests cannot
// name (providers_test.go links them).
func blockOf(t *testing.T, p Provider) map[string]any {
	t.Helper()
	b, err := json.Marshal(p.Block)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
