package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// TestRegistryMatchesPlans keeps the provider table and the plan format's
// list of provider blocks the same list.
func TestRegistryMatchesPlans(t *testing.T) {
	var kinds []string
	for _, p := range providers {
		kinds = append(kinds, p.block().Kind())
	}
	if want := plans.ProviderKinds(); !slices.Equal(kinds, want) {
		t.Fatalf("metrics providers %v, plan provider blocks %v", kinds, want)
	}
	r := NewRegistry(Options{})
	for _, k := range kinds {
		if r[k] == nil {
			t.Errorf("the registry has no %s provider", k)
		}
	}
}

// probePlan is a plan whose metric uses the probe provider of
// probe_test.go; block is the metric's provider block.
func probePlan(block string) []byte {
	return []byte(`apiVersion: coalmine.dev/v1
kind: RolloutPlan
metadata: {name: probed}
spec:
  app: probed
  traffic: {router: gateway, gateway: {url: "http://127.0.0.1:8480"}}
  steps: [{setWeight: 10}, {analysis: {templates: [health]}}]
  analysisTemplates:
    health:
      metrics:
        - name: healthy
          successCondition: result >= 0.9
          provider: {probe: ` + block + `}
`)
}

// TestNewProviderIsOneFileAndOneRow adds a provider as a new one is added:
// probe_test.go holds all of it, and its init the table's row. The plan
// format then knows it (field checks with paths, unknown fields, defaults),
// the JSON Schema describes it, and the registry measures with it.
func TestNewProviderIsOneFileAndOneRow(t *testing.T) {
	for _, tt := range []struct {
		block, path, message string
	}{
		{"{path: healthz, requests: -1}", "spec.analysisTemplates.health.metrics[0].provider.probe.path", `path "healthz" does not start with /`},
		{"{path: healthz, requests: -1}", "spec.analysisTemplates.health.metrics[0].provider.probe.requests", "requests must not be negative"},
		{"{}", "spec.analysisTemplates.health.metrics[0].provider.probe.path", "missing path"},
		{"{path: /healthz, requets: 3}", "spec.analysisTemplates.health.metrics[0].provider.probe.requets", "unknown field requets"},
		{"{path: /healthz, requests: many}", "spec.analysisTemplates.health.metrics[0].provider.probe.requests", `expected a whole number, found "many"`},
	} {
		_, _, err := plans.Load("probe.yaml", probePlan(tt.block))
		var list plans.ErrorList
		if !errors.As(err, &list) || !slices.ContainsFunc(list, func(d plans.Diagnostic) bool { return d.Path == tt.path && d.Message == tt.message }) {
			t.Errorf("probe %s: want %q at %s, got %v", tt.block, tt.message, tt.path, err)
		}
	}

	p, _, err := plans.Load("probe.yaml", probePlan("{path: /healthz}"))
	if err != nil {
		t.Fatalf("a good probe plan: %v", err)
	}
	m := p.Spec.AnalysisTemplates["health"].Metrics[0]
	if b, ok := m.Provider.Block.(*ProbeProvider); !ok || b.Requests != 5 {
		t.Fatalf("probe block = %#v, want the default of 5 requests", m.Provider.Block)
	}

	schema, err := plans.GenerateSchema("../../plans")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs map[string]struct {
			Description string                     `json:"description"`
			Properties  map[string]json.RawMessage `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(schema, &s); err != nil {
		t.Fatal(err)
	}
	if d := s.Defs["ProbeProvider"]; !strings.HasPrefix(d.Description, "ProbeProvider sends GET requests") || d.Properties["requests"] == nil {
		t.Errorf("schema's ProbeProvider = %+v", d)
	}
	if prop := string(s.Defs["Provider"].Properties["probe"]); !strings.Contains(prop, `"#/$defs/ProbeProvider"`) || !strings.Contains(prop, "Probe sends GET requests") {
		t.Errorf("schema's Provider.probe = %s", prop)
	}

	var calls atomic.Int32
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := calls.Add(1); r.URL.Path != "/healthz" || n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer canary.Close()
	res, err := NewRegistry(Options{}).Measure(context.Background(), api.Query{Metric: m, App: "probed", Canary: api.Version{Name: "v2", URL: canary.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Measurement; got.Verdict != analysis.Fail || len(got.Result) != 1 || got.Result[0] != 0.8 || got.CanarySamples != 5 {
		t.Errorf("measurement = %+v, want Fail on 4 of 5 (0.8 < 0.9)", got)
	}
}
