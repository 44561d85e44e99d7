package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/coalmine-dev/coalmine/workers"
	"github.com/coalmine-dev/coalmine/workflows"
)

// temporalOptions are the connection flags shared by the commands that
// talk to Temporal, and the lazily dialled client. They read the same
// settings as the temporal CLI (workers.Connection says in which order).
type temporalOptions struct {
	conn      workers.Connection
	taskQueue string
	// namespace is the resolved namespace, set by Client and endpoint.
	namespace string
	client    client.Client
}

// envOr returns the first non-empty environment variable, or def.
func envOr(def string, names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return def
}

// addFlags registers the connection flags and --task-queue on cmd.
func (o *temporalOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	c := &o.conn
	f.StringVar(&c.Address, "address", "", "Temporal frontend host:port (env COALMINE_TEMPORAL_ADDRESS, TEMPORAL_ADDRESS, else the profile's, else "+client.DefaultHostPort+")")
	f.StringVar(&c.Namespace, "namespace", "", "Temporal namespace (env COALMINE_TEMPORAL_NAMESPACE, TEMPORAL_NAMESPACE, else the profile's, else default)")
	f.StringVar(&c.Profile, "profile", "", "profile of the Temporal config file (env TEMPORAL_PROFILE, else default)")
	f.StringVar(&c.ConfigFile, "config-file", "", "Temporal TOML config file (env TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml)")
	f.Var(tlsFlag{&c.TLS}, "tls", "connect with TLS; --tls=false turns it off (env TEMPORAL_TLS)")
	f.Lookup("tls").NoOptDefVal = "true"
	f.StringVar(&c.TLSCertPath, "tls-cert-path", "", "client certificate for mTLS, PEM (env TEMPORAL_TLS_CLIENT_CERT_PATH)")
	f.StringVar(&c.TLSKeyPath, "tls-key-path", "", "client certificate's private key, PEM (env TEMPORAL_TLS_CLIENT_KEY_PATH)")
	f.StringVar(&c.TLSCAPath, "tls-ca-path", "", "CA that signed the server's certificate, PEM; default the system's CAs (env TEMPORAL_TLS_SERVER_CA_CERT_PATH)")
	f.StringVar(&c.TLSServerName, "tls-server-name", "", "name the server's certificate must carry; default the address's host (env TEMPORAL_TLS_SERVER_NAME)")
	f.StringVar(&o.taskQueue, "task-queue", envOr(workflows.TaskQueue, "COALMINE_TASK_QUEUE"), "Temporal task queue of the coalmine workers (env COALMINE_TASK_QUEUE)")
}

// tlsFlag is --tls: a boolean that is nil until given, so that the
// profile and TEMPORAL_TLS decide when the flag is absent.
type tlsFlag struct{ v **bool }

func (f tlsFlag) String() string {
	if f.v == nil || *f.v == nil {
		return ""
	}
	return strconv.FormatBool(**f.v)
}

func (f tlsFlag) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("--tls takes true or false, not %q", s)
	}
	*f.v = &b
	return nil
}

func (tlsFlag) Type() string { return "bool" }

// endpoint resolves the connection from the flags, the environment and
// the config file.
func (o *temporalOptions) endpoint() (workers.Endpoint, error) {
	ep, err := o.conn.Resolve()
	if err != nil {
		return workers.Endpoint{}, err
	}
	o.namespace = ep.Namespace
	return ep, nil
}

// Client dials Temporal on first use and returns the same client afterwards.
func (o *temporalOptions) Client(ctx context.Context) (client.Client, error) {
	if o.client != nil {
		return o.client, nil
	}
	ep, err := o.endpoint()
	if err != nil {
		return nil, err
	}
	c, err := workers.Dial(ctx, ep, nil, nil)
	if err != nil {
		return nil, err
	}
	o.client = c
	return c, nil
}

// Close closes the client if one was dialled.
func (o *temporalOptions) Close() {
	if o.client != nil {
		o.client.Close()
		o.client = nil
	}
}

// whoAmI is the default for --by: the login name.
func whoAmI() string {
	return envOr("someone", "COALMINE_USER", "USER", "USERNAME")
}

// plainError turns a server error into a plain sentence about the app's rollout.
func plainError(app string, err error) error {
	if err == nil {
		return nil
	}
	var nf *serviceerror.NotFound
	var ae *temporal.ApplicationError
	msg := err.Error()
	switch {
	case errors.As(err, &nf):
		return fmt.Errorf("no rollout of %s is running", app)
	case strings.Contains(msg, "workflow execution already completed"):
		return fmt.Errorf("the rollout of %s has ended", app)
	case errors.As(err, &ae):
		return errors.New(ae.Message())
	}
	var ue *serviceerror.Unavailable
	if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cannot reach Temporal: %w", err)
	}
	return err
}

// sendUpdate sends an update to the app's running rollout and waits for
// its answer; a refusal comes back as a plain sentence.
func sendUpdate(ctx context.Context, c client.Client, app, name string, req workflows.Request) (string, error) {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.WorkflowID(app),
		UpdateID:     fmt.Sprintf("%s-%s-%d", name, req.By, time.Now().UnixNano()),
		UpdateName:   name,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return "", endedError(ctx, c, app, err)
	}
	var out string
	if err := h.Get(ctx, &out); err != nil {
		return "", endedError(ctx, c, app, err)
	}
	return out, nil
}

// endedError says how the app's last rollout ended when err shows that
// none is running, and is plainError otherwise.
func endedError(ctx context.Context, c client.Client, app string, err error) error {
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) && !strings.Contains(err.Error(), "workflow execution already completed") {
		return plainError(app, err)
	}
	d, derr := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(app), "")
	if derr != nil {
		return fmt.Errorf("no rollout of %s is running", app)
	}
	phase := keyword(d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields(), "CoalminePhase")
	if phase == "" {
		return fmt.Errorf("no rollout of %s is running: the last one has ended", app)
	}
	return fmt.Errorf("no rollout of %s is running: the last one has ended %s", app, phase)
}

// newUpdateCmd builds promote, abort, pause and resume: each sends one
// update with who and why and prints the answer.
func newUpdateCmd(io streams, use, short, long, update string, needReason bool, extra func(*cobra.Command, *workflows.Request)) *cobra.Command {
	var tc temporalOptions
	req := workflows.Request{By: whoAmI()}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  exactArgs(1, "give the app"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if needReason && strings.TrimSpace(req.Reason) == "" {
				return usageError{errors.New("--reason is required: say why")}
			}
			defer tc.Close()
			c, err := tc.Client(cmd.Context())
			if err != nil {
				return err
			}
			out, err := sendUpdate(cmd.Context(), c, args[0], update, req)
			if err != nil {
				return err
			}
			fmt.Fprintln(io.Out, out)
			return nil
		},
	}
	tc.addFlags(cmd)
	cmd.Flags().StringVar(&req.By, "by", req.By, "who asks (env COALMINE_USER, USER)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why, in a few words")
	if extra != nil {
		extra(cmd, &req)
	}
	return cmd
}
