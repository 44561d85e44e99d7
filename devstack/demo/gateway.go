package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/coalmine-dev/coalmine/activities/metrics"
	"github.com/coalmine-dev/coalmine/activities/traffic"
	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/plans"
)

// retargetGateway points the plan's router and every gateway metric that
// read the plan's gateway at url instead.
func retargetGateway(p *plans.RolloutPlan, old, url string) {
	p.Spec.Traffic.Block.(*traffic.GatewayTraffic).URL = url
	for name, t := range p.Spec.AnalysisTemplates {
		for i, m := range t.Metrics {
			if g, ok := m.Provider.Block.(*metrics.GatewayProvider); ok && (g.URL == "" || g.URL == old) {
				c := *g
				c.URL = url
				t.Metrics[i].Provider.Block = &c
			}
		}
		p.Spec.AnalysisTemplates[name] = t
	}
}

// startGateway runs the gateway with one route whose stable version is
// stable, on loopback ports of its own. It returns the traffic and the
// admin URL.
func startGateway(ctx context.Context, route, tokenEnv string, stable demoVersion, logger *slog.Logger) (string, string, func(), error) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, fmt.Errorf("demo gateway: listen for traffic: %w", err)
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tl.Close()
		return "", "", nil, fmt.Errorf("demo gateway: listen for the admin API: %w", err)
	}
	cfg, err := gateway.ParseConfig(fmt.Appendf(nil, `
listen: %s
admin: {listen: %s, tokenEnv: %s}
routes:
  - name: %s
    stable: {version: %s, url: %s}
`, tl.Addr(), al.Addr(), tokenEnv, route, stable.cfg.Version, stable.url))
	if err == nil {
		var g *gateway.Gateway
		if g, err = gateway.New(cfg, demoToken, logger.With("component", "gateway")); err == nil {
			gctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- g.Serve(gctx, tl, al) }()
			stop := func() {
				cancel()
				if err := <-done; err != nil {
					logger.Error("demo gateway stopped with an error", "error", err)
				}
			}
			return "http://" + tl.Addr().String(), "http://" + al.Addr().String(), stop, nil
		}
	}
	tl.Close()
	al.Close()
	return "", "", nil, fmt.Errorf("demo gateway: %w", err)
}
