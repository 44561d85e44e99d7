// Package testenv holds what the suites that run coalmine as a user would
// share: the repository's root, the coalmine binary built from it, the
// Temporal CLI from bin/, and an output buffer safe for processes.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// RepoRoot is the module's root folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// TemporalCLI is bin/temporal, which make tools builds.
func TemporalCLI() (string, error) {
	path := filepath.Join(RepoRoot(), "bin", "temporal")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("the Temporal CLI %s is missing: run make tools", path)
	}
	return path, nil
}

// BuildCoalmine builds ./cmd/coalmine into dir and returns the binary's path.
func BuildCoalmine(dir string) (string, error) {
	bin := filepath.Join(dir, "coalmine")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/coalmine")
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build coalmine: %w\n%s", err, out)
	}
	return bin, nil
}

// Buffer collects a process's output while the test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// CleanEnv is this process's environment as a new user's shell would have
// it: without TEMPORAL_* and COALMINE_* settings, with HOME set to home
// (so that no real ~/.config/temporalio/temporal.toml is read), and with
// pathPrefix put before PATH.
func CleanEnv(home, pathPrefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "TEMPORAL_"), strings.HasPrefix(k, "COALMINE_"), k == "HOME", k == "XDG_CONFIG_HOME", k == "PATH":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "PATH="+pathPrefix+string(os.PathListSeparator)+os.Getenv("PATH"))
}
