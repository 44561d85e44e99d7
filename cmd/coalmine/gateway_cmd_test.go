package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGatewayAndDemoAgentCommandErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("admin: {tokenEnv: COALMINE_TEST_GATEWAY_TOKEN_UNSET}\nroutes:\n  - name: a\n    stable: {version: v1, url: http://127.0.0.1:1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("routes:\n  - name: a\n    stabel: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"gateway without config", []string{"gateway"}, 2, "--config is required"},
		{"gateway with unknown field", []string{"gateway", "--config", bad}, 1, "line 3: field stabel not found"},
		{"gateway without token", []string{"gateway", "--config", good}, 1, "COALMINE_TEST_GATEWAY_TOKEN_UNSET"},
		{"demo agent with a rate above 1", []string{"demo-agent", "--error-rate", "1.5"}, 2, "--error-rate must be within 0..1"},
		{"demo agent with no tokens", []string{"demo-agent", "--tokens", "0"}, 2, "--tokens must be at least 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.wantErr) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, tc.code, tc.wantErr)
			}
		})
	}
}
