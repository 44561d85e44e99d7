package plans

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// withoutBlocks makes the test run as a program that links no metric
// provider and no traffic router (the workflow package alone): no kind is
// registered until the test ends.
func withoutBlocks(t *testing.T) {
	t.Helper()
	providers, providerKinds := providerTypes.swap(nil, nil)
	routers, routerKinds := routerTypes.swap(nil, nil)
	t.Cleanup(func() {
		providerTypes.swap(providers, providerKinds)
		routerTypes.swap(routers, routerKinds)
	})
}

// TestPlansRoundTripWithoutBlocks checks that every example plan,
// encoded as a worker records it, decodes and encodes to the same bytes in
// a program that links no provider and no router, and that checking it
// there names the provider kinds and the router it does not know.
func TestPlansRoundTripWithoutBlocks(t *testing.T) {
	files, _ := filepath.Glob("examples/*.yaml")
	recorded := map[string][]byte{}
	for _, f := range files {
		p, _, err := LoadFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if recorded[f], err = json.Marshal(p); err != nil {
			t.Fatal(err)
		}
	}
	withoutBlocks(t)
	for _, f := range files {
		var p RolloutPlan
		if err := json.Unmarshal(recorded[f], &p); err != nil {
			t.Fatalf("%s: decode without providers: %v", f, err)
		}
		got, err := json.Marshal(&p)
		if err != nil {
			t.Fatalf("%s: encode without providers: %v", f, err)
		}
		if string(got) != string(recorded[f]) {
			t.Errorf("%s does not round-trip without providers:\nrecorded %s\nencoded  %s", f, recorded[f], got)
		}
	}
	var p RolloutPlan
	if err := json.Unmarshal(recorded["examples/voice-agent.yaml"], &p); err != nil {
		t.Fatal(err)
	}
	diags := check("voice-agent.json", &parsed{plan: &p, pos: positions{}, bad: map[string]bool{}, unknown: map[string]bool{}}, "")
	if !hasDiagnostic(diags, "spec.analysisTemplates.guardrails.metrics[0].provider.gateway", "unknown provider kind gateway") ||
		!hasDiagnostic(diags, "spec.traffic.router", `"gateway" is not a known router`) {
		t.Errorf("checking without providers: %v", diags)
	}
}

// TestUnknownProviderKind checks the diagnostics of a provider kind no
// provider registered, in a plan file and in a decoded plan.
func TestUnknownProviderKind(t *testing.T) {
	const plan = `apiVersion: coalmine.dev/v1
kind: RolloutPlan
metadata: {name: p}
spec:
  app: p
  traffic: {router: gateway, gateway: {url: "http://gw:8480"}}
  steps: [{setWeight: 10}, {analysis: {templates: [t]}}]
  analysisTemplates:
    t:
      metrics:
        - name: m
          successCondition: result > 0
          provider: {webb: {url: "http://evals", jsonPath: $.x}}
`
	_, _, err := Load("p.yaml", []byte(plan))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err = %v, want an ErrorList", err)
	}
	if len(list) != 1 || list[0].Path != "spec.analysisTemplates.t.metrics[0].provider.webb" ||
		list[0].Message != "unknown provider kind webb" || list[0].Hint != "did you mean web?" {
		t.Errorf("diagnostics = %v", list)
	}

	var m Metric
	if err := json.Unmarshal([]byte(`{"name":"m","provider":{"webb":{"url":"http://evals"}}}`), &m); err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(m.Provider); string(got) != `{"webb":{"url":"http://evals"}}` {
		t.Errorf("unknown kind encodes as %s", got)
	}
	c := &checker{pos: positions{}, bad: map[string]bool{}, unknown: map[string]bool{}}
	c.providerKinds("m.provider", &m)
	if !hasDiagnostic(c.diags, "m.provider.webb", "unknown provider kind webb") ||
		!strings.Contains(c.diags[0].Hint, strings.Join(ProviderKinds(), ", ")) {
		t.Errorf("diagnostics = %v", c.diags)
	}
}

func hasDiagnostic(diags []Diagnostic, path, message string) bool {
	for _, d := range diags {
		if d.Path == path && d.Message == message {
			return true
		}
	}
	return false
}
