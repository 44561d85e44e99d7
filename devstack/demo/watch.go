package demo

import (
	"context"
	"time"

	"github.com/coalmine-dev/coalmine/gateway/admin"
)

// routeSample is the gateway's route at one moment.
type routeSample struct {
	at       time.Time
	canary   string
	weightBP int
}

// routeWatch samples a gateway route until stopped.
type routeWatch struct {
	cancel  context.CancelFunc
	done    chan struct{}
	samples routeSamples
}

// routeSamples are a route's samples, oldest first, for one canary version.
type routeSamples struct {
	version string
	list    []routeSample
}

// watchRoute reads the route every 20ms, to time when the canary got
// traffic and when it stopped getting it.
func watchRoute(ctx context.Context, admin *admin.Client, route, canary string) *routeWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &routeWatch{cancel: cancel, done: make(chan struct{}), samples: routeSamples{version: canary}}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			rs, err := admin.Route(rctx, route)
			rcancel()
			if err == nil {
				s := routeSample{at: time.Now(), weightBP: rs.CanaryWeightBP}
				if rs.Canary != nil {
					s.canary = rs.Canary.Version
				}
				w.samples.list = append(w.samples.list, s)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stop ends the sampling and returns the samples.
func (w *routeWatch) stop() routeSamples {
	w.cancel()
	<-w.done
	return w.samples
}

// times returns when the canary first had traffic, and the first moment
// after detected at which it had none (zero when detected is zero).
func (s routeSamples) times(detected time.Time) (traffic, stable time.Time) {
	for _, x := range s.list {
		if traffic.IsZero() && x.canary == s.version && x.weightBP > 0 {
			traffic = x.at
		}
		if !detected.IsZero() && stable.IsZero() && !x.at.Before(detected) && (x.canary != s.version || x.weightBP == 0) {
			stable = x.at
		}
	}
	return traffic, stable
}
