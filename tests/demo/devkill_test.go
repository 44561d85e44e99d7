package demo_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/tests/testenv"
)

// TestDevKilledLeavesNoServer kills `coalmine dev` with SIGKILL, which it
// cannot handle, and checks that its Temporal dev server goes too.
func TestDevKilledLeavesNoServer(t *testing.T) {
	temporal, err := testenv.TemporalCLI()
	if err != nil {
		t.Fatal(err)
	}
	coalmine, err := testenv.BuildCoalmine(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	port, uiPort := testenv.FreePort(t), testenv.FreePort(t)
	out := &testenv.Buffer{}
	cmd := exec.Command(coalmine, "dev", "--temporal", temporal, "--dir", t.TempDir(),
		"--port", strconv.Itoa(port), "--ui-port", strconv.Itoa(uiPort), "--metrics-listen", "")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Worker: polling") {
		if time.Now().After(deadline) {
			t.Fatalf("coalmine dev did not start its worker within 2m:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	server := childPID(t, cmd.Process.Pid)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	gone := time.Now().Add(30 * time.Second)
	for syscall.Kill(server, 0) == nil {
		if time.Now().After(gone) {
			_ = syscall.Kill(server, syscall.SIGKILL)
			t.Fatalf("the Temporal dev server (pid %d) outlived coalmine dev killed with SIGKILL by 30s", server)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// childPID returns the one child process of pid that runs the temporal CLI.
func childPID(t *testing.T, pid int) int {
	t.Helper()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, c := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(c)
			if err != nil {
				continue
			}
			if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", n)); err == nil && filepath.Base(exe) == "temporal" {
				return n
			}
		}
	}
	t.Fatalf("no temporal child process of coalmine dev (pid %d) in /proc", pid)
	return 0
}
