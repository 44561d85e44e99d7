package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DialTimeout bounds connecting to Temporal, TLS handshake and first call
// included.
const DialTimeout = 10 * time.Second

// Dial connects to the endpoint and checks the connection at once with a
// call to the server (the SDK's GetSystemInfo), all within DialTimeout.
// logger may be nil (nothing logged); metrics may be nil. A failure is one
// sentence that names the cause: TLS, credentials, or reachability.
func Dial(ctx context.Context, ep Endpoint, logger *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	opts := ep.Options
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts.Logger = tlog.NewStructuredLogger(logger)
	opts.MetricsHandler = metrics
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		return nil, DialError(ep, err)
	}
	return c, nil
}

// DialError turns an error from dialling ep into a sentence that names the
// cause and the setting that fixes it. The original error stays wrapped.
func DialError(ep Endpoint, err error) error {
	msg := err.Error()
	at := "Temporal at " + ep.Address
	var cause string
	switch {
	case strings.Contains(msg, "certificate signed by unknown authority"):
		cause = "the server's TLS certificate is signed by a CA this client does not trust: give that CA with --tls-ca-path (or TEMPORAL_TLS_SERVER_CA_CERT_PATH, or server_ca_cert_path in the profile)"
	case strings.Contains(msg, "certificate is valid for"), strings.Contains(msg, "certificate is not valid for any names"):
		cause = fmt.Sprintf("the server's TLS certificate is not valid for the name %q (%s): set --tls-server-name (or TEMPORAL_TLS_SERVER_NAME) to a name the certificate carries",
			orDefault(ep.ServerName, hostOf(ep.Address)), x509Detail(msg))
	case strings.Contains(msg, "certificate has expired"), strings.Contains(msg, "certificate is not yet valid"):
		cause = "the server's TLS certificate is outside its validity period (" + x509Detail(msg) + ")"
	case strings.Contains(msg, "tls: certificate required"):
		cause = "the server requires a client certificate (mTLS) and none was sent: " + giveClientCert
	case ep.TLS && !ep.ClientCert && droppedAfterHandshake(msg):
		// With TLS 1.3 the server's "certificate required" alert may
		// arrive after the client has written and found the connection closed.
		cause = "the server closed the connection right after the TLS handshake; it most likely requires a client certificate (mTLS) and none was sent: " + giveClientCert
	case strings.Contains(msg, "tls: bad certificate"), strings.Contains(msg, "tls: unknown certificate authority"),
		strings.Contains(msg, "tls: unknown certificate"), strings.Contains(msg, "tls: expired certificate"):
		cause = "the server refused this client's TLS certificate (" + tlsAlert(msg) + "): give one signed by a CA the server trusts; " + giveClientCert
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		cause = "the server does not speak TLS, but this client uses it: turn TLS off (--tls=false, TEMPORAL_TLS=false) or use the server's TLS port"
	case strings.Contains(msg, "server preface"), strings.Contains(msg, "http2: frame too large"):
		cause = "the server closed the connection before speaking gRPC; it may require TLS: turn it on with --tls (or TEMPORAL_TLS=true, or a profile with [profile.NAME.tls])"
	case isAuthError(err):
		cause = authCause(ep, err)
	case strings.Contains(msg, "connection refused"):
		cause = "nothing accepts connections there (connection refused): is Temporal running, and are --address, TEMPORAL_ADDRESS and the profile's address right?"
	case strings.Contains(msg, "unexpected HTTP status code received from server"):
		cause = "something that is not a Temporal gRPC frontend answered there (" + after(msg, "unexpected HTTP status code received from server: ") + "): check the address and port, and any proxy in between"
	case strings.Contains(msg, "no such host"), strings.Contains(msg, "no children to pick from"), strings.Contains(msg, "produced zero addresses"):
		cause = "the host name does not resolve: check --address, TEMPORAL_ADDRESS or the profile's address"
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(msg, "DeadlineExceeded"), strings.Contains(msg, "deadline exceeded"):
		cause = fmt.Sprintf("no answer within %s: check the address and that a firewall lets the connection through", DialTimeout)
	default:
		return fmt.Errorf("cannot reach %s (namespace %s): %w", at, ep.Namespace, err)
	}
	return &ConnectError{Endpoint: ep, Cause: cause, Err: err}
}

// giveClientCert says how to give a client certificate.
const giveClientCert = "give --tls-cert-path and --tls-key-path (or TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH, or client_cert_path and client_key_path in the profile)"

// droppedAfterHandshake reports whether msg says the peer closed the
// connection once it was open.
func droppedAfterHandshake(msg string) bool {
	return strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset by peer") ||
		strings.Contains(msg, "error reading server preface: EOF")
}

// ConnectError is a failed connection to Temporal with its cause in words.
type ConnectError struct {
	// Endpoint is where the connection went.
	Endpoint Endpoint
	// Cause says why it failed and how to fix it.
	Cause string
	// Err is the error the SDK returned.
	Err error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("cannot connect to Temporal at %s: %s", e.Endpoint.Address, e.Cause)
}

// Unwrap returns the SDK's error.
func (e *ConnectError) Unwrap() error { return e.Err }

// isAuthError reports whether the server refused the caller's credentials.
func isAuthError(err error) bool {
	var denied *serviceerror.PermissionDenied
	return errors.As(err, &denied) || status.Code(err) == codes.Unauthenticated
}

// authCause says why the server refused the credentials.
func authCause(ep Endpoint, err error) string {
	detail := serverMessage(err)
	if ep.APIKeyFrom != "" {
		return fmt.Sprintf("the server refused the API key from %s (%s): check that the key is valid and has access to namespace %s", ep.APIKeyFrom, detail, ep.Namespace)
	}
	return fmt.Sprintf("the server refused the request without credentials (%s): set an API key in TEMPORAL_API_KEY or the profile's api_key, or give a client certificate", detail)
}

// serverMessage is the message of the server's status, without the SDK's prefixes.
func serverMessage(err error) string {
	var denied *serviceerror.PermissionDenied
	if errors.As(err, &denied) {
		return "PermissionDenied: " + denied.Message
	}
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) {
		st := gs.GRPCStatus()
		return st.Code().String() + ": " + st.Message()
	}
	return err.Error()
}

// x509Detail is the part of msg from "x509: " on, or msg.
func x509Detail(msg string) string {
	if i := strings.Index(msg, "x509: "); i >= 0 {
		return strings.TrimRight(msg[i:], `"`)
	}
	return msg
}

// tlsAlert is the TLS alert in msg ("remote error: tls: bad certificate"), or msg.
func tlsAlert(msg string) string {
	if i := strings.Index(msg, "remote error: tls: "); i >= 0 {
		rest := msg[i:]
		if j := strings.IndexAny(rest, `"`); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	return msg
}

// after is the part of msg after sep, or msg.
func after(msg, sep string) string {
	if _, rest, ok := strings.Cut(msg, sep); ok {
		return rest
	}
	return msg
}

// hostOf is the host of a host:port address.
func hostOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}
