package gateway_test

import (
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/gateway"
)

func TestExampleConfig(t *testing.T) {
	cfg, err := gateway.LoadConfig("testdata/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	if r.Name != "voice-agent" || r.Canary == nil || r.CanaryWeightBP != 500 || len(r.Segments) != 2 ||
		r.Sticky.PinTTL.D().Minutes() != 30 || cfg.Prices["v2"].OutputPerMillion != 1 {
		t.Fatalf("parsed %+v", r)
	}
}

func TestConfigErrors(t *testing.T) {
	const ok = "    stable: {version: v1, url: http://127.0.0.1:1}\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "empty configuration"},
		{"unknown field with line", "listen: x\nroutes:\n  - name: a\n    weight: 5\n" + ok, "line 4: field weight not found"},
		{"bad duration", "limits: {upstreamTimeout: soon}\nroutes:\n  - name: a\n" + ok, "line 1"},
		{"no routes", "listen: 127.0.0.1:1\n", "at least one route"},
		{"bad name", "routes:\n  - name: A B\n" + ok, "routes[0].name"},
		{"reserved name", "routes:\n  - name: metrics\n" + ok, "reserved"},
		{"duplicate", "routes:\n  - name: a\n" + ok + "  - name: a\n" + ok, "duplicate route"},
		{"missing stable", "routes:\n  - name: a\n", "routes[0].stable.version"},
		{"weight without canary", "routes:\n  - name: a\n    canaryWeightBP: 5\n" + ok, "routes[0].canaryWeightBP"},
		{"weight too big", "routes:\n  - name: a\n    canary: {version: v2, url: http://h}\n    canaryWeightBP: 20000\n" + ok, "canaryWeightBP"},
		{"pin without key", "routes:\n  - name: a\n    sticky: {pinTTL: 1m}\n" + ok, "sticky.pinTTL"},
		{"segment without rule", "routes:\n  - name: a\n    segments: [{name: s}]\n" + ok, "routes[0].segments[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gateway.ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
