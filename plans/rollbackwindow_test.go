package plans

import (
	"strings"
	"testing"
)

func TestRollbackWindowRevisions(t *testing.T) {
	const base = `apiVersion: coalmine.dev/v1
kind: RolloutPlan
metadata: {name: demo}
spec:
  app: demo
  traffic: {router: gateway, gateway: {url: "http://127.0.0.1:8480"}}
  steps: [{setWeight: 100}]
`
	tests := []struct {
		name, window, wantErr string
	}{
		{"absent", "", ""},
		{"five", "  rollbackWindow: {revisions: 5}\n", ""},
		{"zero", "  rollbackWindow: {revisions: 0}\n", "rollbackWindow.revisions is 0"},
		{"too many", "  rollbackWindow: {revisions: 51}\n", "rollbackWindow.revisions is 51"},
		{"unknown field", "  rollbackWindow: {revision: 2}\n", "revision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("demo.yaml", []byte(base+tt.window))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("load: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("load: %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}
