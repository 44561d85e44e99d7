package gateway_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"

	"github.com/coalmine-dev/coalmine/gateway"
)

// binomialBound is a 5-sigma bound on the deviation of a Binomial(n, p) count
// from its mean; a correct split fails it with probability below 1e-6.
func binomialBound(n int, p float64) float64 {
	return 5 * math.Sqrt(float64(n)*p*(1-p))
}

func TestSplitAccuracyOverHTTP(t *testing.T) {
	const keys = 10000
	g := startGateway(t, parseConfig(t, `
routes:
  - name: chat
    salt: s1
    sticky: {headers: [x-session-id]}
    stable: {version: v1, url: `+versionServer(t, "v1")+`}
    canary: {version: v2, url: `+versionServer(t, "v2")+`}
    canaryWeightBP: 2500
`))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer hc.CloseIdleConnections()
	var mu sync.Mutex
	canary := 0
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				code, ver, _ := post(t, hc, g.traffic+"/chat/v1/chat/completions", `{}`, map[string]string{"x-session-id": fmt.Sprintf("session-%d", i)})
				if code != 200 {
					t.Errorf("key %d: status %d", i, code)
					return
				}
				want := "v1"
				if gateway.Bucket("s1", fmt.Sprintf("session-%d", i)) < 2500 {
					want = "v2"
				}
				if ver != want {
					t.Errorf("key %d served by %s, its bucket says %s", i, ver, want)
				}
				if ver == "v2" {
					mu.Lock()
					canary++
					mu.Unlock()
				}
			}
		})
	}
	for i := range keys {
		work <- i
	}
	close(work)
	wg.Wait()
	if d := math.Abs(float64(canary) - 0.25*keys); d > binomialBound(keys, 0.25) {
		t.Fatalf("canary got %d of %d keys at 25%%: off by %.0f, bound %.0f", canary, keys, d, binomialBound(keys, 0.25))
	}
	st := statsAfter(t, g, "chat", keys)
	got := series(st, "chat", "v2", gateway.RoleCanary).Cumulative.Requests
	if got != uint64(canary) {
		t.Fatalf("stats count %d canary requests, clients saw %d", got, canary)
	}
}

func TestBucketSpread(t *testing.T) {
	const keys = 10000
	for _, w := range []int{1, 500, 2500, 5000, 9900} {
		t.Run(fmt.Sprintf("weight-%d", w), func(t *testing.T) {
			n := 0
			for i := range keys {
				if gateway.Bucket("route-salt", fmt.Sprintf("user-%d", i)) < w {
					n++
				}
			}
			p := float64(w) / gateway.MaxBasisPoints
			if d := math.Abs(float64(n) - p*keys); d > binomialBound(keys, p)+1 {
				t.Fatalf("%d of %d keys under %d bp: off by %.0f", n, keys, w, d)
			}
		})
	}
	t.Run("salts make routes independent", func(t *testing.T) {
		same := 0
		for i := range 1000 {
			k := fmt.Sprintf("k%d", i)
			if gateway.Bucket("a", k) == gateway.Bucket("b", k) {
				same++
			}
		}
		if same > 10 {
			t.Fatalf("%d of 1000 keys share a bucket under different salts", same)
		}
	})
	t.Run("known value", func(t *testing.T) {
		// Pinned so that a change of hash (which would reshuffle every
		// live rollout's users) cannot go unnoticed.
		if b := gateway.Bucket("voice-agent", "session-42"); b != knownBucket {
			t.Fatalf("Bucket(voice-agent, session-42) = %d, want %d", b, knownBucket)
		}
	})
}

const knownBucket = 9485

// TestMonotonicProperty checks over random weight sequences that a key's
// assignment only ever moves towards the canary while the weight rises and
// only towards stable while it falls: canary(w1) ⊆ canary(w2) for w1 <= w2.
func TestMonotonicProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d-%d", i, rng.Uint64())
	}
	for seq := range 40 {
		salt := fmt.Sprintf("salt-%d", seq)
		prev := -1
		prevCanary := map[string]bool{}
		for step := range 12 {
			w := rng.IntN(gateway.MaxBasisPoints + 1)
			cur := map[string]bool{}
			for _, k := range keys {
				if gateway.Bucket(salt, k) < w {
					cur[k] = true
				}
			}
			if prev >= 0 {
				for _, k := range keys {
					if w >= prev && prevCanary[k] && !cur[k] {
						t.Fatalf("seq %d step %d: weight %d -> %d moved %s from canary back to stable", seq, step, prev, w, k)
					}
					if w <= prev && !prevCanary[k] && cur[k] {
						t.Fatalf("seq %d step %d: weight %d -> %d moved %s from stable to canary", seq, step, prev, w, k)
					}
				}
			}
			prev, prevCanary = w, cur
		}
	}
}
