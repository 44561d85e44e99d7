//go:build k8s

package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/coalmine-dev/coalmine/gateway/admin"
)

// change is one generation of one route.
type change struct {
	route string
	gen   int64
}

// applyTimes measures how long each replica takes to serve a change: from
// the moment the API server's watch delivers the state ConfigMap with the
// change to the first poll (every pollEvery) at which the replica reports
// it. A replica that was down in between is left out of that change.
type applyTimes struct {
	mu      sync.Mutex
	written map[change]time.Time
	seen    map[string]map[change]time.Time // admin URL → change → first seen
	down    map[string]time.Time            // admin URL → last failed poll
}

const pollEvery = 10 * time.Millisecond

// watchApplied starts the ConfigMap watch and a poller per replica; both
// stop when ctx ends.
func watchApplied(ctx context.Context, t *testing.T, f *fleetFixture) *applyTimes {
	t.Helper()
	a := &applyTimes{written: map[change]time.Time{}, seen: map[string]map[change]time.Time{}, down: map[string]time.Time{}}
	w, err := f.cs.CoreV1().ConfigMaps(f.ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + fleetState})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(w.Stop)
	wg.Add(1 + len(f.replicas))
	go func() {
		defer wg.Done()
		for ev := range w.ResultChan() {
			if cm, ok := ev.Object.(*corev1.ConfigMap); ok {
				a.written1(cm, time.Now())
			}
		}
	}()
	for _, r := range f.replicas {
		a.seen[r.admin] = map[change]time.Time{}
		go func(url string) {
			defer wg.Done()
			c := admin.NewClient(url, fleetToken, nil)
			for tick := time.NewTicker(pollEvery); ctx.Err() == nil; <-tick.C {
				a.poll(ctx, c, url)
			}
		}(r.admin)
	}
	return a
}

// written1 records the changes a version of the ConfigMap carries.
func (a *applyTimes) written1(cm *corev1.ConfigMap, at time.Time) {
	var st struct {
		Routes map[string]admin.RouteState `json:"routes"`
	}
	if json.Unmarshal([]byte(cm.Data["state.json"]), &st) != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, r := range st.Routes {
		c := change{name, r.Generation}
		if _, ok := a.written[c]; !ok {
			a.written[c] = at
		}
	}
}

func (a *applyTimes) poll(ctx context.Context, c *admin.Client, url string) {
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	routes, err := c.Routes(pctx)
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.down[url] = now
		return
	}
	for _, r := range routes {
		ch := change{r.Name, r.Generation}
		if _, ok := a.seen[url][ch]; !ok {
			a.seen[url][ch] = now
		}
	}
}

// report logs the median and the maximum time for one replica, and for
// all three, to serve a change.
func (a *applyTimes) report(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	var each, all []time.Duration
	for ch, w := range a.written {
		var slowest time.Duration
		complete := true
		for url, seen := range a.seen {
			at, ok := seen[ch]
			if !ok || a.down[url].After(w) && a.down[url].Before(at) {
				complete = false
				continue
			}
			d := max(at.Sub(w), 0)
			each = append(each, d)
			slowest = max(slowest, d)
		}
		if complete {
			all = append(all, slowest)
		}
	}
	if len(all) == 0 {
		t.Log("no change was seen on every replica")
		return
	}
	t.Logf("a change in the state ConfigMap served by one replica: %s; by all %d: %s (polled every %v)",
		medianMax(each), len(a.seen), medianMax(all), pollEvery)
}

func medianMax(ds []time.Duration) string {
	slices.Sort(ds)
	return fmt.Sprintf("median %v, max %v over %d", ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond), len(ds))
}
