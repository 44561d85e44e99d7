// Package gatewaytest runs coalmine's gateway on loopback listeners for the
// tests of the packages that talk to it (routers, metric providers, the
// CLI, end-to-end suites), so each of them starts it the same way.
package gatewaytest

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/gateway/admin"
)

// Server is a gateway serving on two loopback listeners until the test ends.
type Server struct {
	// Gateway is the running gateway.
	Gateway *gateway.Gateway
	// TrafficURL and AdminURL are the listeners' base URLs (http://127.0.0.1:port).
	TrafficURL, AdminURL string
	// Client is an admin client with the gateway's token.
	Client *admin.Client

	stop  func() error
	cfg   *gateway.Config
	token string
}

// Start runs a gateway for cfg with the admin token until the test ends;
// the test fails if the gateway cannot start or does not stop cleanly.
func Start(t testing.TB, cfg *gateway.Config, token string) *Server {
	t.Helper()
	return serve(t, cfg, token, listen(t, "127.0.0.1:0"), listen(t, "127.0.0.1:0"))
}

// Restart runs a new gateway with the configuration and token of s, on
// the addresses s served, after s stopped: a gateway that came back. The
// new one starts from its configuration, not from the routes s had.
func (s *Server) Restart(t testing.TB) *Server {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Fatalf("stop the gateway before its restart: %v", err)
	}
	host := func(u string) string { return strings.TrimPrefix(u, "http://") }
	return serve(t, s.cfg, s.token, listen(t, host(s.TrafficURL)), listen(t, host(s.AdminURL)))
}

func serve(t testing.TB, cfg *gateway.Config, token string, tl, al net.Listener) *Server {
	t.Helper()
	g, err := gateway.New(cfg, token, nil)
	if err != nil {
		t.Fatalf("new gateway: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, tl, al) }()
	var once sync.Once
	var serveErr error
	s := &Server{
		Gateway:    g,
		TrafficURL: "http://" + tl.Addr().String(),
		AdminURL:   "http://" + al.Addr().String(),
		cfg:        cfg,
		token:      token,
		stop: func() error {
			once.Do(func() {
				cancel()
				serveErr = <-done
			})
			return serveErr
		},
	}
	s.Client = admin.NewClient(s.AdminURL, token, nil)
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("gateway stopped with: %v", err)
		}
	})
	return s
}

// StartYAML parses a gateway.yaml document and starts it; see Start.
func StartYAML(t testing.TB, config, token string) *Server {
	t.Helper()
	cfg, err := gateway.ParseConfig([]byte(config))
	if err != nil {
		t.Fatalf("parse gateway config: %v\n%s", err, config)
	}
	return Start(t, cfg, token)
}

// Stop shuts the gateway down gracefully, draining requests in flight, and
// returns what Serve returned. Later calls return the same.
func (s *Server) Stop() error { return s.stop() }

func listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	return l
}
