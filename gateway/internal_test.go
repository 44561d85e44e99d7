package gateway

import (
	"math"
	"path"
	"sync/atomic"
	"testing"
	"time"
)

func TestPinsExpireWhenIdle(t *testing.T) {
	p := newPins()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ttl := 10 * time.Minute
	p.set("s", "v2", t0)
	tests := []struct {
		name string
		at   time.Time
		want bool
	}{
		{"fresh", t0.Add(time.Minute), true},
		{"kept alive by use", t0.Add(10 * time.Minute), true},
		{"idle too long", t0.Add(30 * time.Minute), false},
		{"gone after expiry", t0.Add(31 * time.Minute), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := p.lookup("s", tc.at, ttl); ok != tc.want {
				t.Fatalf("lookup at %v: %v, want %v", tc.at, ok, tc.want)
			}
		})
	}
	p.set("a", "v1", t0)
	p.set("b", "v1", t0.Add(time.Hour))
	p.sweep(t0.Add(time.Hour), ttl)
	if p.len() != 1 {
		t.Fatalf("%d pins after sweep, want 1", p.len())
	}
}

func TestHistogramQuantile(t *testing.T) {
	h := newHist()
	for range 100 {
		h.observe(30 * time.Millisecond) // bucket (0.025, 0.05]
	}
	if q := h.quantile(0.5); q <= 0.025 || q > 0.05 {
		t.Fatalf("p50 %v outside its bucket", q)
	}
	h.observe(time.Hour)
	if q := h.quantile(1); q != LatencyBucketsSeconds[len(LatencyBucketsSeconds)-1] {
		t.Fatalf("p100 with an observation above every bound: %v", q)
	}
	if e := newHist(); e.quantile(0.99) != 0 {
		t.Fatal("empty histogram has a non-zero p99")
	}
	e := h.export()
	if e.Count != 101 || e.Buckets[len(e.Buckets)-1] != 100 || math.Abs(e.Sum-3603) > 1e-9 {
		t.Fatalf("export %+v", e)
	}
}

func TestParseAnswer(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		in, out int64
		tools   int
		usage   bool
		chunk   bool
	}{
		{"usage and two tool calls", `{"choices":[{"message":{"tool_calls":[{"id":"a"},{"id":"b"}]}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}`, 3, 4, 2, true, false},
		{"responses spelling", `{"usage":{"input_tokens":7,"output_tokens":8}}`, 7, 8, 0, true, false},
		{"no usage", `{"choices":[{"message":{"content":"hi"}}]}`, 0, 0, 0, false, false},
		{"malformed", `{"usage":`, 0, 0, 0, false, false},
		{"usage null", `{"usage":null}`, 0, 0, 0, false, false},
		{"spaces and details", "{\"usage\" : {\"prompt_tokens_details\":{\"cached_tokens\":9},\n \"prompt_tokens\" : 21, \"completion_tokens\":0}}", 21, 0, 0, true, false},
		{"mention inside content is ignored", `{"choices":[{"message":{"content":"the \"usage\": {\"prompt_tokens\": 5}"}}]}`, 0, 0, 0, false, false},
		{"chunk start of tool call", `{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c"}]}}]}`, 0, 0, 1, false, true},
		{"chunk continuation", `{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"x"}}]}}]}`, 0, 0, 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o outcome
			if tc.chunk {
				parseChunk([]byte(tc.body), &o)
			} else {
				parseAnswer([]byte(tc.body), &o)
			}
			if o.usage != tc.usage || o.tokensIn != tc.in || o.tokensOut != tc.out || o.toolCalls != tc.tools {
				t.Fatalf("got %+v", o)
			}
		})
	}
}

func TestWindowForgetsOldSlots(t *testing.T) {
	s := newSeries("r", "v", RoleStable)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	o := outcome{status: 200, latency: time.Millisecond}
	s.record(&o, Price{}, t0)
	s.record(&o, Price{}, t0.Add(2*time.Hour)) // same ring slot, an hour later... or more
	total, w := s.snapshot(t0, t0.Add(2*time.Hour))
	if total.Requests != 2 || w.Counts.Requests != 1 {
		t.Fatalf("total %d, window %d", total.Requests, w.Counts.Requests)
	}
	_, w = s.snapshot(t0.Add(2*time.Hour+time.Minute), t0.Add(2*time.Hour+time.Minute))
	if w.Counts.Requests != 0 {
		t.Fatalf("window after the last request: %d", w.Counts.Requests)
	}
}

// TestCleanPathLikeServeMux checks cleanPath against path.Clean as
// http.ServeMux applies it.
func TestCleanPathLikeServeMux(t *testing.T) {
	for _, p := range []string{"/", "/a", "/a/", "/a/b/c", "//", "/a//b", "/a/./b", "/a/../b", "/a/.", "/a/..",
		"/.", "/..", "/...", "/a/.b", "/a/b..", "", "a", "*", "/v1/chat/completions", "/a/b/", "/a/b//"} {
		want := p != "" && p[0] == '/'
		if want {
			np := path.Clean(p)
			if p[len(p)-1] == '/' && np != "/" {
				np += "/"
			}
			want = np == p
		}
		if got := cleanPath(p); got != want {
			t.Errorf("cleanPath(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestBackendFailuresAreLoggedOnceASecond(t *testing.T) {
	b := &backend{lastWarn: new(atomic.Int64)}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {10 * time.Millisecond, false}, {999 * time.Millisecond, false}, {time.Second, true}, {1500 * time.Millisecond, false}, {3 * time.Second, true}} {
		if got := b.warnNow(t0.Add(tt.at)); got != tt.want {
			t.Errorf("at +%v: %v, want %v", tt.at, got, tt.want)
		}
	}
}
