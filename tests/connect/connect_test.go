package connect_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway/gatewaytest"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

// failFast is how long a refused connection may take, process start included.
const failFast = 10 * time.Second

// rolloutSetup is a gateway in front of two demo agents and a plan that
// moves its route to the canary in two steps.
type rolloutSetup struct {
	plan, stableURL, canaryURL string
}

func newRolloutSetup(t *testing.T, app string) rolloutSetup {
	t.Helper()
	var s rolloutSetup
	for i, v := range []string{"v1", "v2"} {
		hs := httptest.NewServer(demoagent.New(demoagent.Config{Version: v, Quality: 0.95, Seed: uint64(i + 1)}).Handler())
		t.Cleanup(hs.Close)
		if i == 0 {
			s.stableURL = hs.URL
		} else {
			s.canaryURL = hs.URL
		}
	}
	g := gatewaytest.StartYAML(t, fmt.Sprintf("admin: {tokenEnv: CONNECT_TOKEN}\nroutes:\n  - name: %s\n    stable: {version: v1, url: %s}\n", app, s.stableURL), "connect-secret")
	s.plan = filepath.Join(t.TempDir(), app+".yaml")
	plan := fmt.Sprintf(`apiVersion: coalmine.dev/v1
kind: RolloutPlan
metadata: {name: %[1]s}
spec:
  app: %[1]s
  traffic:
    router: gateway
    gateway: {url: %[2]s, route: %[1]s, tokenEnv: CONNECT_TOKEN}
  steps:
    - setWeight: 50
    - setWeight: 100
`, app, g.AdminURL)
	if err := os.WriteFile(s.plan, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMTLSRollout runs a worker and the CLI through a proxy that requires a
// client certificate: first with flags, then with a profile file that holds
// the same settings.
func TestMTLSRollout(t *testing.T) {
	p := newPKI(t)
	px := startProxy(t, p, env.temporal, proxyOptions{RequireClientCert: true})
	tlsFlags := []string{"--address", px.Addr, "--tls-cert-path", p.ClientCert, "--tls-key-path", p.ClientKey,
		"--tls-ca-path", p.CA, "--tls-server-name", "localhost", "--task-queue", "connect-mtls"}
	logs := startWorker(t, []string{"CONNECT_TOKEN=connect-secret"}, tlsFlags...)
	if want := "TLS, client certificate"; !strings.Contains(logs.String(), want) {
		t.Errorf("the worker's start line does not say %q:\n%s", want, logs)
	}
	s := newRolloutSetup(t, "mtls-app")

	r := coalmine(t, nil, append([]string{"start", s.plan, "--stable", "v1", "--canary", "v2", "--canary-url", s.canaryURL, "--watch"}, tlsFlags...)...)
	if r.code != 0 || !strings.Contains(r.out, "Promoted") {
		t.Fatalf("start --watch over mTLS: exit %d\nstdout:\n%s\nstderr:\n%s\nworker:\n%s", r.code, r.out, r.errOut, logs)
	}

	conf := filepath.Join(t.TempDir(), "temporal.toml")
	toml := fmt.Sprintf(`# the same settings as the flags, in the temporal CLI's config file
[profile.secure]
address = %q
namespace = "default"

[profile.secure.tls]
client_cert_path = %q
client_key_path = %q
server_ca_cert_path = %q
server_name = "localhost"
`, px.Addr, p.ClientCert, p.ClientKey, p.CA)
	if err := os.WriteFile(conf, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	profileEnv := []string{"TEMPORAL_CONFIG_FILE=" + conf, "TEMPORAL_PROFILE=secure"}
	r = coalmine(t, profileEnv, "start", s.plan, "--canary", "v3", "--canary-url", s.canaryURL, "--task-queue", "connect-mtls", "--watch")
	if r.code != 0 || !strings.Contains(r.out, "Promoted") {
		t.Fatalf("start --watch with profile secure: exit %d\nstdout:\n%s\nstderr:\n%s\nworker:\n%s", r.code, r.out, r.errOut, logs)
	}
	if !strings.Contains(r.errOut, "v2") {
		t.Errorf("start without --stable does not say it took v2 from the last promoted rollout:\n%s", r.errOut)
	}
	r = coalmine(t, nil, "list", "--config-file", conf, "--profile", "secure")
	if r.code != 0 || !strings.Contains(r.out, "mtls-app") {
		t.Errorf("list --config-file --profile: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
}

// TestRefusedConnectionsFailFast checks that each way a secured connection
// is refused ends within failFast with a sentence naming the cause.
func TestRefusedConnectionsFailFast(t *testing.T) {
	p := newPKI(t)
	mtls := startProxy(t, p, env.temporal, proxyOptions{RequireClientCert: true})
	keyed := startProxy(t, p, env.temporal, proxyOptions{APIKey: "right-key"})
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{
			name: "no client certificate",
			args: []string{"--address", mtls.Addr, "--tls-ca-path", p.CA},
			want: "requires a client certificate (mTLS) and none was sent",
		},
		{
			name: "wrong CA",
			args: []string{"--address", mtls.Addr, "--tls-ca-path", p.OtherCA, "--tls-cert-path", p.ClientCert, "--tls-key-path", p.ClientKey},
			want: "signed by a CA this client does not trust",
		},
		{
			name: "wrong server name",
			args: []string{"--address", mtls.Addr, "--tls-ca-path", p.CA, "--tls-server-name", "temporal.example.com", "--tls-cert-path", p.ClientCert, "--tls-key-path", p.ClientKey},
			want: `not valid for the name "temporal.example.com"`,
		},
		{
			name: "refused API key",
			env:  []string{"TEMPORAL_API_KEY=wrong-key", "TEMPORAL_TLS_SERVER_CA_CERT_PATH=" + p.CA},
			args: []string{"--address", keyed.Addr},
			want: "refused the API key from TEMPORAL_API_KEY",
		},
		{
			name: "plaintext to a TLS port",
			args: []string{"--address", keyed.Addr},
			want: "may require TLS",
		},
		{
			name: "TLS to a plaintext port",
			args: []string{"--address", env.temporal, "--tls"},
			want: "does not speak TLS",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := coalmine(t, tt.env, append([]string{"list"}, tt.args...)...)
			t.Logf("took %s: %s", r.took.Round(time.Millisecond), strings.TrimSpace(r.errOut))
			if r.code != 1 {
				t.Errorf("exit %d, want 1\n%s%s", r.code, r.out, r.errOut)
			}
			if !strings.Contains(r.errOut, tt.want) || !strings.Contains(r.errOut, "cannot connect to Temporal at") {
				t.Errorf("stderr does not say %q:\n%s", tt.want, r.errOut)
			}
			if r.took > failFast {
				t.Errorf("took %s, want under %s", r.took, failFast)
			}
			if strings.Contains(r.errOut, "wrong-key") {
				t.Errorf("the API key appears in the error:\n%s", r.errOut)
			}
		})
	}
}

// TestAPIKey checks that the API key goes to the server as the bearer
// credential of every call, from the CLI and the worker, and never into
// their output.
func TestAPIKey(t *testing.T) {
	p := newPKI(t)
	const key = "tmprl-test-key-5f2c"
	px := startProxy(t, p, env.temporal, proxyOptions{APIKey: key})
	keyEnv := []string{"TEMPORAL_API_KEY=" + key, "TEMPORAL_TLS_SERVER_CA_CERT_PATH=" + p.CA, "TEMPORAL_ADDRESS=" + px.Addr}
	r := coalmine(t, keyEnv, "list")
	if r.code != 0 {
		t.Fatalf("list with TEMPORAL_API_KEY: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if n := px.seen("Bearer " + key); n == 0 {
		t.Fatalf("the proxy saw no call with authorization: Bearer <key> (%d calls in all)", px.calls())
	}
	logs := startWorker(t, keyEnv, "--task-queue", "connect-apikey")
	if !strings.Contains(logs.String(), "API key from TEMPORAL_API_KEY") {
		t.Errorf("the worker's start line does not say where the API key came from:\n%s", logs)
	}
	for _, out := range []string{r.out, r.errOut, logs.String()} {
		if strings.Contains(out, key) {
			t.Errorf("the API key appears in coalmine's output:\n%s", out)
		}
	}
}
