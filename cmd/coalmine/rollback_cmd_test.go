package main

import (
	"strings"
	"testing"
)

func TestRollbackAndRetryUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"rollback", "voice-agent"}, 2, "--reason is required"},
		{[]string{"rollback"}, 2, "give the app"},
		{[]string{"retry"}, 2, "give the app"},
		{[]string{"retry", "a", "b"}, 2, "give the app"},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(t, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("coalmine %s: exit %d, %q; want exit %d with %q", strings.Join(tt.args, " "), code, errOut, tt.code, tt.want)
		}
	}
}
