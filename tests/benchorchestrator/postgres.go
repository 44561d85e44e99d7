package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pgUser is the role the benchmark's PostgreSQL is set up with; it trusts
// connections from the loopback address, so it has no password.
const pgUser = "temporal"

// startPostgres creates a PostgreSQL cluster in the run's folder and starts
// it on 127.0.0.1:port with its log in postgres.log. fsync and synchronous
// commit stay on, as in production.
func (s *stack) startPostgres(ctx context.Context, pgBin string, port int) error {
	data := filepath.Join(s.dir, "postgres")
	logPath := filepath.Join(s.dir, "postgres.log")
	cred, err := s.preparePostgresDir(data)
	if err != nil {
		return err
	}
	// --no-sync only skips syncing the new cluster's files to disk.
	initdb := exec.CommandContext(ctx, filepath.Join(pgBin, "initdb"), "-D", data, "-U", pgUser, "-A", "trust", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = data
	if err := runLogged(initdb, logPath); err != nil {
		return err
	}
	c := exec.Command(filepath.Join(pgBin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+data, "-c", "max_connections=200")
	c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	c.Dir = data
	if s.db, err = s.startCmd("postgres.log", c); err != nil {
		return err
	}
	return waitLogLine(ctx, s.db, logPath, "database system is ready to accept connections")
}

// preparePostgresDir makes PostgreSQL's data folder. PostgreSQL refuses to
// run as root, so a benchmark run by root runs it as the postgres user
// (Debian's postgresql package makes that user): the folder becomes that
// user's and the run's folder is opened for it to pass through. It returns
// the credential to run PostgreSQL's programs with, nil for the current user.
func (s *stack) preparePostgresDir(data string) (*syscall.Credential, error) {
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, fmt.Errorf("make PostgreSQL's data folder: %w", err)
	}
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and there is no postgres user to run it as (apt-get install postgresql makes one): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(data, uid, gid); err != nil {
		return nil, fmt.Errorf("give %s to the postgres user: %w", data, err)
	}
	if err := os.Chmod(s.dir, 0o711); err != nil {
		return nil, fmt.Errorf("open %s for the postgres user: %w", s.dir, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// setupSchemas creates the server's two databases and brings their schemas
// to the newest version the SQL tool embeds, logging into sql-tool.log.
func setupSchemas(ctx context.Context, sqlTool, dir string, pgPort int) error {
	logPath := filepath.Join(dir, "sql-tool.log")
	for _, d := range [][2]string{{"temporal", "postgresql/v12/temporal"}, {"temporal_visibility", "postgresql/v12/visibility"}} {
		db, schema := d[0], d[1]
		conn := []string{"--plugin", "postgres12", "--ep", "127.0.0.1", "-p", strconv.Itoa(pgPort), "-u", pgUser, "--db", db}
		for _, step := range [][]string{
			{"create-database"},
			{"setup-schema", "-v", "0.0"},
			{"update-schema", "--schema-name", schema},
		} {
			if err := runLogged(exec.CommandContext(ctx, sqlTool, append(conn, step...)...), logPath); err != nil {
				return err
			}
		}
	}
	return nil
}

// runLogged runs a setup command to its end with its output appended to
// logPath; its error names the command and the log.
func runLogged(c *exec.Cmd, logPath string) error {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "$ %s\n", strings.Join(c.Args, " "))
	c.Stdout, c.Stderr = f, f
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s %s: %w (log %s)", filepath.Base(c.Path), strings.Join(c.Args[1:], " "), err, logPath)
	}
	return nil
}

// waitLogLine waits up to a minute until the log at logPath holds line,
// and fails early when the process c has exited.
func waitLogLine(ctx context.Context, c *exec.Cmd, logPath, line string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(logPath); err == nil && strings.Contains(string(b), line) {
			return nil
		}
		if !processAlive(c.Process.Pid) {
			return fmt.Errorf("%s exited while starting (log %s)", filepath.Base(c.Path), logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not log %q within a minute (log %s)", filepath.Base(c.Path), line, logPath)
}
