package workload

import (
	"testing"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

func TestImage(t *testing.T) {
	target := api.Target{App: "voice-agent", Stable: api.Version{Name: "v1"}, Canary: api.Version{Name: "v2"}}
	cases := []struct {
		name, template, stable, want string
	}{
		{"template", "registry.example.com/{{.App}}:{{.Canary.Version}}", "ignored:v1", "registry.example.com/voice-agent:v2"},
		{"tag replaced", "", "registry.example.com/voice-agent:v1", "registry.example.com/voice-agent:v2"},
		{"registry port kept", "", "registry.example.com:5000/voice-agent:v1", "registry.example.com:5000/voice-agent:v2"},
		{"no tag", "", "registry.example.com:5000/voice-agent", "registry.example.com:5000/voice-agent:v2"},
		{"digest dropped", "", "voice-agent:v1@sha256:abc", "voice-agent:v2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Image(plans.Workload{Image: c.template}, target, c.stable)
			if err != nil || got != c.want {
				t.Errorf("Image = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}
