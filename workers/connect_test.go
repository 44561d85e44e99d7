package workers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// connEnv is every variable Resolve reads; each case starts with all unset.
var connEnv = []string{
	"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE",
	"TEMPORAL_TLS", "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
	"TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_CLIENT_AUTHORITY",
	"COALMINE_TEMPORAL_ADDRESS", "COALMINE_TEMPORAL_NAMESPACE",
}

const testProfiles = `
[profile.default]
address = "file-default:7233"
namespace = "file-ns"

[profile.cloud]
address = "cloud:7233"
namespace = "cloud-ns"
api_key = "profile-key"

[profile.tls]
address = "tls:7233"
[profile.tls.tls]
server_name = "from-file"
`

func TestResolve(t *testing.T) {
	on, off := true, false
	tests := []struct {
		name string
		env  map[string]string
		conn Connection
		want Endpoint // Options is not compared
	}{
		{name: "nothing set", want: Endpoint{Address: client.DefaultHostPort, Namespace: "default"}},
		{name: "default profile of the file", env: map[string]string{"TEMPORAL_CONFIG_FILE": "FILE"},
			want: Endpoint{Address: "file-default:7233", Namespace: "file-ns"}},
		{name: "TEMPORAL_ over the profile", env: map[string]string{"TEMPORAL_CONFIG_FILE": "FILE", "TEMPORAL_ADDRESS": "env:7233"},
			want: Endpoint{Address: "env:7233", Namespace: "file-ns"}},
		{name: "COALMINE_ over TEMPORAL_", env: map[string]string{"TEMPORAL_ADDRESS": "env:7233", "COALMINE_TEMPORAL_ADDRESS": "cm:7233", "TEMPORAL_NAMESPACE": "ns1", "COALMINE_TEMPORAL_NAMESPACE": "ns2"},
			want: Endpoint{Address: "cm:7233", Namespace: "ns2"}},
		{name: "flags over everything", env: map[string]string{"COALMINE_TEMPORAL_ADDRESS": "cm:7233", "TEMPORAL_NAMESPACE": "ns1"},
			conn: Connection{Address: "flag:7233", Namespace: "flag-ns"}, want: Endpoint{Address: "flag:7233", Namespace: "flag-ns"}},
		{name: "profile by flag, key from the profile turns TLS on", env: map[string]string{"TEMPORAL_CONFIG_FILE": "FILE"},
			conn: Connection{Profile: "cloud"}, want: Endpoint{Address: "cloud:7233", Namespace: "cloud-ns", TLS: true, APIKeyFrom: "profile cloud"}},
		{name: "profile by TEMPORAL_PROFILE, key from the environment", env: map[string]string{"TEMPORAL_CONFIG_FILE": "FILE", "TEMPORAL_PROFILE": "cloud", "TEMPORAL_API_KEY": "env-key"},
			want: Endpoint{Address: "cloud:7233", Namespace: "cloud-ns", TLS: true, APIKeyFrom: "TEMPORAL_API_KEY"}},
		{name: "--tls=false over an API key", env: map[string]string{"TEMPORAL_API_KEY": "k"}, conn: Connection{TLS: &off},
			want: Endpoint{Address: client.DefaultHostPort, Namespace: "default", APIKeyFrom: "TEMPORAL_API_KEY"}},
		{name: "--tls", conn: Connection{TLS: &on}, want: Endpoint{Address: client.DefaultHostPort, Namespace: "default", TLS: true}},
		{name: "TEMPORAL_TLS=false over a profile's tls", env: map[string]string{"TEMPORAL_CONFIG_FILE": "FILE", "TEMPORAL_TLS": "false"}, conn: Connection{Profile: "tls"},
			want: Endpoint{Address: "tls:7233", Namespace: "default"}},
		{name: "--tls-server-name over the profile's", env: map[string]string{"TEMPORAL_CONFIG_FILE": "FILE"}, conn: Connection{Profile: "tls", TLSServerName: "flag-name"},
			want: Endpoint{Address: "tls:7233", Namespace: "default", TLS: true, ServerName: "flag-name"}},
		{name: "server name from the environment turns TLS on", env: map[string]string{"TEMPORAL_TLS_SERVER_NAME": "env-name"},
			want: Endpoint{Address: client.DefaultHostPort, Namespace: "default", TLS: true, ServerName: "env-name"}},
	}
	file := writeProfiles(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setConnEnv(t, tt.env, file)
			got, err := tt.conn.Resolve()
			if err != nil {
				t.Fatal(err)
			}
			got.Options, tt.want.Options = client.Options{}, client.Options{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Resolve = %+v\nwant      %+v", got, tt.want)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	file := writeProfiles(t)
	tests := []struct {
		name string
		env  map[string]string
		conn Connection
		want string
	}{
		{name: "missing config file", conn: Connection{ConfigFile: "/nonexistent/temporal.toml"}, want: "read the Temporal config file /nonexistent/temporal.toml"},
		{name: "missing file from the environment", env: map[string]string{"TEMPORAL_CONFIG_FILE": "/nonexistent/t.toml"}, want: "TEMPORAL_CONFIG_FILE"},
		{name: "unknown profile", env: map[string]string{"TEMPORAL_CONFIG_FILE": "FILE"}, conn: Connection{Profile: "nope"}, want: "unable to find profile nope"},
		{name: "cert without key", conn: Connection{TLSCertPath: "/tmp/c.pem"}, want: "other must be present too"},
		{name: "unreadable CA", conn: Connection{TLSCAPath: "/nonexistent/ca.pem"}, want: "failed reading server CA cert path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setConnEnv(t, tt.env, file)
			_, err := tt.conn.Resolve()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Resolve error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEndpointStringHidesKey(t *testing.T) {
	t.Setenv("TEMPORAL_API_KEY", "secret-value")
	ep, err := Connection{Address: "x:7233"}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if s := ep.String(); strings.Contains(s, "secret-value") || !strings.Contains(s, "API key from TEMPORAL_API_KEY") {
		t.Errorf("String() = %q", s)
	}
}

func TestDialErrorKinds(t *testing.T) {
	ep := Endpoint{Address: "temporal.example.com:7233", Namespace: "ns", APIKeyFrom: "TEMPORAL_API_KEY", TLS: true}
	tests := []struct{ err, want string }{
		{`failed reaching server: connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`, "CA this client does not trust"},
		{`x509: certificate is valid for localhost, not other.example.com`, `not valid for the name "temporal.example.com" (x509: certificate is valid for localhost, not other.example.com)`},
		{`error reading server preface: remote error: tls: certificate required`, "requires a client certificate"},
		{`remote error: tls: bad certificate`, "refused this client's TLS certificate (remote error: tls: bad certificate)"},
		{`failed reaching server: write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe`, "most likely requires a client certificate (mTLS) and none was sent"},
		{`tls: first record does not look like a TLS handshake`, "does not speak TLS"},
		{`dial tcp 127.0.0.1:1: connect: connection refused`, "connection refused"},
		{`context deadline exceeded`, "no answer within 10s"},
		{`failed reaching server: no children to pick from`, "does not resolve"},
		{`failed reaching server: unexpected HTTP status code received from server: 404 (Not Found); malformed header: missing HTTP content-type`, "not a Temporal gRPC frontend answered there (404 (Not Found); malformed header"},
	}
	for _, tt := range tests {
		err := DialError(ep, errors.New(tt.err))
		var ce *ConnectError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "cannot connect to Temporal at temporal.example.com:7233: ") {
			t.Errorf("DialError(%q) = %v, want a ConnectError saying %q", tt.err, err, tt.want)
		}
	}
	refused := fmt.Errorf("failed reaching server: %w", status.Error(codes.Unauthenticated, "bad key"))
	if err := DialError(ep, refused); !strings.Contains(err.Error(), "refused the API key from TEMPORAL_API_KEY (Unauthenticated: bad key)") {
		t.Errorf("DialError(Unauthenticated) = %v", err)
	}
	ep.APIKeyFrom = ""
	if err := DialError(ep, refused); !strings.Contains(err.Error(), "refused the request without credentials (Unauthenticated: bad key)") {
		t.Errorf("DialError(Unauthenticated) without a key = %v", err)
	}
	if err := DialError(ep, errors.New("something else")); !strings.Contains(err.Error(), "something else") {
		t.Errorf("an unknown error lost its text: %v", err)
	}
}

// writeProfiles writes testProfiles to a file and returns its path.
func writeProfiles(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(file, []byte(testProfiles), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// setConnEnv unsets every connection variable, points HOME at an empty
// folder, and sets env ("FILE" stands for the profiles file).
func setConnEnv(t *testing.T, env map[string]string, file string) {
	t.Helper()
	for _, k := range connEnv {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", "")
	for k, v := range env {
		if v == "FILE" {
			v = file
		}
		t.Setenv(k, v)
	}
}
