//go:build !linux

package gateway

// newTrafficListener returns the goroutine server: the event loops are
// written for Linux's epoll.
func (g *Gateway) newTrafficListener() trafficListener {
	return newTrafficServer(g.TrafficHandler(), g.cfg.Limits, g.log)
}
