// Package walkthrough_test runs docs/your-agent.md as written: every `sh`
// code block, in order, in one bash, with the coalmine binary built from
// this module and the Temporal CLI from bin/ on the PATH. Demo agents stand
// in for the reader's endpoints, as the page says. The script runs in a
// network namespace of its own when `unshare --net` works (root on Linux),
// so that the page's fixed ports cannot clash with anything else running
// on the machine.
package walkthrough_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/tests/testenv"
)

// page is the walkthrough, relative to the repository root.
const page = "docs/your-agent.md"

// shellBlocks returns the bodies of the ```sh fenced blocks of markdown, in order.
func shellBlocks(markdown string) []string {
	var blocks []string
	var cur *strings.Builder
	sc := bufio.NewScanner(strings.NewReader(markdown))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```sh":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

func TestShellBlocks(t *testing.T) {
	md := "intro\n```sh\necho one\n```\n```yaml\nkey: v\n```\ntext\n```sh\necho two\necho three\n```\n```\nplain\n```\n"
	got := shellBlocks(md)
	want := []string{"echo one\n", "echo two\necho three\n"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("shellBlocks = %q, want %q", got, want)
	}
}

// TestGatewayExample checks that the complete gateway.yaml the page links
// to is valid and serves the page's route on the page's admin port.
func TestGatewayExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "examples", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.ParseConfig(b)
	if err != nil {
		t.Fatalf("deploy/examples/gateway.yaml: %v", err)
	}
	if cfg.Admin.Listen != "127.0.0.1:8480" || len(cfg.Routes) != 1 || cfg.Routes[0].Name != "my-agent" {
		t.Errorf("deploy/examples/gateway.yaml: admin %s, routes %d; want admin 127.0.0.1:8480 and one route my-agent", cfg.Admin.Listen, len(cfg.Routes))
	}
}

func TestWalkthrough(t *testing.T) {
	root := testenv.RepoRoot()
	temporal, err := testenv.TemporalCLI()
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(root, page))
	if err != nil {
		t.Fatal(err)
	}
	blocks := shellBlocks(string(md))
	if len(blocks) < 8 {
		t.Fatalf("%s has %d sh blocks; want the whole walkthrough (at least 8)", page, len(blocks))
	}
	coalmine, err := testenv.BuildCoalmine(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	script := "set -eu\n" + strings.Join(blocks, "")
	out, err := runScript(t, script, filepath.Dir(coalmine)+":"+filepath.Dir(temporal))
	if err != nil {
		t.Fatalf("%s failed: %v\n--- output ---\n%s", page, err, out)
	}
	t.Logf("output of %s:\n%s", page, out)
	for _, want := range []string{
		"stable version v1: from gateway route my-agent at http://127.0.0.1:8480", // before any promotion: the route
		"stable version v2: from the last promoted rollout of my-agent",           // then the promoted rollout
		"X-Coalmine-Version: v1", // the first request, before any rollout
		"Promoted",
		"v3 answers worse",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the walkthrough's output lacks %q", want)
		}
	}
}

// runScript runs the script with bash in a fresh folder, in a network
// namespace of its own when possible, and returns its combined output. The
// whole process group is killed at the end, whatever the script left.
func runScript(t *testing.T, script, pathPrefix string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := []string{"bash", "-c", script}
	if exec.Command("unshare", "--net", "true").Run() == nil {
		args = []string{"unshare", "--net", "bash", "-c", "ip link set lo up && exec bash -c \"$0\"", script}
	} else {
		t.Log("unshare --net does not work here: running on the machine's own loopback (the page's ports must be free)")
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = t.TempDir()
	cmd.Env = testenv.CleanEnv(cmd.Dir, pathPrefix)
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	t.Logf("the walkthrough took %s", time.Since(start).Round(time.Second))
	return out.String(), err
}
