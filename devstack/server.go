package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// SearchAttributeTypes returns coalmine's search attributes with their
// server types, as `temporal server start-dev --search-attribute` and
// `temporal operator search-attribute create` take them.
func SearchAttributeTypes() [][2]string {
	return [][2]string{
		{"CoalmineApp", "Keyword"},
		{"CoalminePhase", "Keyword"},
		{"CoalmineStableVersion", "Keyword"},
		{"CoalmineCanaryVersion", "Keyword"},
		{"CoalmineCanaryWeight", "Double"},
	}
}

// server is the Temporal dev server running as a child process.
type server struct {
	cmd      *exec.Cmd
	log      *os.File
	logPath  string
	hostPort string
	// exited receives the process's exit once; a reader that only looks
	// puts it back.
	exited chan error
}

// startServer starts `temporal server start-dev` with its database and log
// in o.Dir and coalmine's search attributes registered.
func startServer(o Options) (*server, error) {
	s := &server{logPath: filepath.Join(o.Dir, "temporal.log"), hostPort: net.JoinHostPort(o.IP, strconv.Itoa(o.Port))}
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s.logPath, err)
	}
	s.log = logFile
	args := []string{"server", "start-dev",
		"--ip", o.IP, "--port", strconv.Itoa(o.Port), "--ui-port", strconv.Itoa(o.UIPort),
		"--db-filename", filepath.Join(o.Dir, "temporal.db"),
		"--namespace", o.Namespace, "--log-level", "warn",
	}
	for _, sa := range SearchAttributeTypes() {
		args = append(args, "--search-attribute", sa[0]+"="+sa[1])
	}
	s.cmd = exec.Command(o.TemporalPath, args...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = devServerProcAttr()
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start temporal dev server: %w", err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	return s, nil
}

// stop interrupts the server, waits up to 15s for it to exit and kills it
// after that; then it closes the server's log.
func (s *server) stop() error {
	defer s.log.Close()
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-s.exited:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			return fmt.Errorf("stop temporal dev server: %w", err)
		}
		return nil
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("stop temporal dev server: killed after 15s")
	}
}

// waitReady waits until the frontend answers health checks.
func (s *server) waitReady(ctx context.Context, namespace string) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: s.hostPort, Namespace: namespace, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("temporal dev server at %s did not answer within 90s: %w", s.hostPort, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-s.exited:
			s.exited <- e
			return fmt.Errorf("temporal dev server exited at start: %v", e)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
