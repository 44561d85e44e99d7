// Package devstack runs coalmine's local stack on one machine, as
// `coalmine dev` does: a Temporal dev server with its Web UI as a child
// process, a worker, and the built-in gateway when configured. The demo
// (package demo below it) runs its rollouts on this stack.
package devstack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/coalmine-dev/coalmine/activities"
)

// Options configure the dev stack.
type Options struct {
	// TemporalPath is the temporal CLI binary (bin/temporal, built by make tools).
	TemporalPath string
	// Dir holds the persistent database and logs; .coalmine when empty.
	Dir string
	// IP the servers listen on; 127.0.0.1 when empty.
	IP string
	// Port of the Temporal frontend (7233) and UIPort of its Web UI (8233).
	Port, UIPort int
	// Namespace is the Temporal namespace; default when empty.
	Namespace string
	// GatewayConfig is the gateway's configuration file; empty runs no gateway.
	GatewayConfig string
	// ExternalGateway describes a gateway that runs beside the stack (the
	// demo's), printed instead of "not started" when GatewayConfig is empty.
	ExternalGateway string
	// MetricsAddr is where the worker serves /metrics; empty serves none.
	MetricsAddr string
	// Activities builds the worker's activities; getenv reads secrets, with
	// the dev gateway token filled in.
	Activities func(getenv func(string) string) *activities.Activities
	// Out receives the addresses of what runs, for people.
	Out io.Writer
	// Logger logs the worker and the gateway; nil means slog.Default().
	Logger *slog.Logger
	// Run, when set, runs once the worker polls, with a context that ends
	// with the stack. Run (the function of this package) then returns when
	// Options.Run returns (with its error), after stopping everything;
	// without it, it returns when ctx is done. The demo runs its rollouts
	// here.
	Run func(ctx context.Context, info Info) error
}

// Info says where the running dev stack listens, for Options.Run.
type Info struct {
	// HostPort is the Temporal frontend and Namespace its namespace.
	HostPort, Namespace string
	// UIURL is the Temporal Web UI, e.g. http://127.0.0.1:8233.
	UIURL string
	// ServerPID is the process id of the Temporal dev server.
	ServerPID int
}

// devToken is the gateway admin token the dev stack uses when the
// environment gives none; the dev stack listens on loopback only.
const devToken = "coalmine-dev"

// withDefaults fills in the defaults of every empty option and checks
// that the temporal CLI exists and Dir can be created.
func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		o.Dir = ".coalmine"
	}
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = 7233
	}
	if o.UIPort == 0 {
		o.UIPort = 8233
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if _, err := os.Stat(o.TemporalPath); err != nil {
		return o, fmt.Errorf("temporal CLI not found at %s (run make tools): %w", o.TemporalPath, err)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return o, fmt.Errorf("create %s: %w", o.Dir, err)
	}
	return o, nil
}
