package gateway

import (
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Window data is kept in slots of windowResolution for windowSlots slots. A
// series holds a slot only for a period that had traffic, so an idle or
// quiet series costs little and a busy one at most windowSlots slots.
const (
	windowResolution = 10 * time.Second
	windowSlots      = 360 // one hour
)

// outcome is what one request produced.
type outcome struct {
	status      int
	timeout     bool
	connFailure bool
	canceled    bool
	latency     time.Duration
	ttft        time.Duration // zero unless streamed
	streamed    bool
	usage       bool
	tokensIn    int64
	tokensOut   int64
	toolCalls   int
	answered    bool // a 2xx answer was read to its end
	streamDone  bool // the stream's [DONE] event was forwarded
}

// counts is the mutable form of Counts.
type counts struct {
	requests, errors, timeouts, connFailures, clientErrors, canceled uint64
	latency, ttft                                                    hist
	tokensIn, tokensOut, toolCalls, cost                             Moments
	ws                                                               *sessionCounts // nil until a WebSocket session
}

// sessionCounts are the WebSocket part of counts, which most routes never
// use.
type sessionCounts struct {
	sessions, sessionErrors, upgradeFailures, abnormalCloses uint64
	closeCodes                                               map[int]uint64
	sessionDuration, realtimeFirstDelta                      hist
}

// noSessions stands for the session counts of counts without any; it is
// only read.
var noSessions sessionCounts

// sessionsOrNone returns the session counts for reading.
func (c *counts) sessionsOrNone() *sessionCounts {
	if c.ws == nil {
		return &noSessions
	}
	return c.ws
}

// sessionsForWrite returns the session counts, allocating them first.
func (c *counts) sessionsForWrite() *sessionCounts {
	if c.ws == nil {
		c.ws = &sessionCounts{closeCodes: map[int]uint64{}}
	}
	return c.ws
}

func (c *counts) record(o *outcome, price Price) {
	if o.canceled {
		c.canceled++
		return
	}
	c.requests++
	switch {
	case o.timeout:
		c.errors++
		c.timeouts++
	case o.connFailure:
		c.errors++
		c.connFailures++
	case o.status >= 500:
		c.errors++
	case o.status >= 400:
		c.clientErrors++
	}
	c.latency.observe(o.latency)
	if o.streamed && o.ttft > 0 {
		c.ttft.observe(o.ttft)
	}
	c.recordUsage(o, price)
}

// recordUsage records an answer's usage, cost and tool calls (a request's,
// or one response of a Realtime session).
func (c *counts) recordUsage(o *outcome, price Price) {
	if o.usage {
		c.tokensIn.Observe(float64(o.tokensIn))
		c.tokensOut.Observe(float64(o.tokensOut))
		c.cost.Observe((float64(o.tokensIn)*price.InputPerMillion + float64(o.tokensOut)*price.OutputPerMillion) / 1e6)
	}
	if o.answered {
		c.toolCalls.Observe(float64(o.toolCalls))
	}
}

// recordSession records an ended WebSocket session or a failed upgrade.
func (c *counts) recordSession(so *sessionOutcome) {
	ws := c.sessionsForWrite()
	ws.sessions++
	ws.sessionDuration.observe(so.duration)
	if so.upgradeFailed {
		ws.upgradeFailures++
		ws.sessionErrors++
		return
	}
	ws.closeCodes[so.code]++
	if so.abnormal() {
		ws.abnormalCloses++
		ws.sessionErrors++
	}
}

// recordFirstDelta records a Realtime response's time to its first delta.
func (c *counts) recordFirstDelta(d time.Duration) {
	c.sessionsForWrite().realtimeFirstDelta.observe(d)
}

func (c *counts) add(o *counts) {
	c.requests += o.requests
	c.errors += o.errors
	c.timeouts += o.timeouts
	c.connFailures += o.connFailures
	c.clientErrors += o.clientErrors
	c.canceled += o.canceled
	c.latency.add(&o.latency)
	c.ttft.add(&o.ttft)
	c.tokensIn.Add(o.tokensIn)
	c.tokensOut.Add(o.tokensOut)
	c.toolCalls.Add(o.toolCalls)
	c.cost.Add(o.cost)
	if o.ws != nil {
		c.sessionsForWrite().add(o.ws)
	}
}

func (s *sessionCounts) add(o *sessionCounts) {
	s.sessions += o.sessions
	s.sessionErrors += o.sessionErrors
	s.upgradeFailures += o.upgradeFailures
	s.abnormalCloses += o.abnormalCloses
	for code, n := range o.closeCodes {
		s.closeCodes[code] += n
	}
	s.sessionDuration.add(&o.sessionDuration)
	s.realtimeFirstDelta.add(&o.realtimeFirstDelta)
}

func (c *counts) export() Counts {
	ws := c.sessionsOrNone()
	out := Counts{
		Requests: c.requests, Errors: c.errors, Timeouts: c.timeouts,
		ConnectionFailures: c.connFailures, ClientErrors: c.clientErrors, Canceled: c.canceled,
		Latency: c.latency.export(), TTFT: c.ttft.export(),
		TokensIn: c.tokensIn, TokensOut: c.tokensOut, ToolCalls: c.toolCalls, Cost: c.cost,
		Sessions: ws.sessions, SessionErrors: ws.sessionErrors, UpgradeFailures: ws.upgradeFailures,
		AbnormalCloses: ws.abnormalCloses, SessionDuration: ws.sessionDuration.export(),
		RealtimeFirstDelta: ws.realtimeFirstDelta.export(),
	}
	for code, n := range ws.closeCodes {
		if n == 0 {
			continue
		}
		if out.CloseCodes == nil {
			out.CloseCodes = map[string]uint64{}
		}
		out.CloseCodes[strconv.Itoa(code)] = n
	}
	return out
}

// slot holds the counts of one period of windowResolution.
type slot struct {
	epoch int64 // unix time / resolution
	counts
}

// series records the traffic of one route, version and role: cumulative
// counts plus the slots of the periods within the window horizon that had
// traffic.
type series struct {
	route, version, role string

	mu    sync.Mutex
	total counts
	slots []*slot // oldest first; none older than windowSlots periods before the newest
}

func newSeries(route, version, role string) *series {
	return &series{route: route, version: version, role: role}
}

func (s *series) record(o *outcome, price Price, now time.Time) {
	s.apply(now, func(c *counts) { c.record(o, price) })
}

// apply runs f on the cumulative counts and on the window slot of now.
func (s *series) apply(now time.Time, f func(*counts)) {
	e := now.UnixNano() / int64(windowResolution)
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.total)
	f(&s.slotAt(e).counts)
}

// slotAt returns the slot of period e, adding it when missing, and forgets
// the slots that fall beyond the horizon. Requests end nearly in order, so
// the search starts from the newest slot. Callers hold s.mu.
func (s *series) slotAt(e int64) *slot {
	i := len(s.slots)
	for i > 0 && s.slots[i-1].epoch > e {
		i--
	}
	if i > 0 && s.slots[i-1].epoch == e {
		return s.slots[i-1]
	}
	sl := &slot{epoch: e}
	s.slots = slices.Insert(s.slots, i, sl)
	s.forget(s.slots[len(s.slots)-1].epoch - windowSlots + 1)
	return sl
}

// forget drops the slots of periods before oldest. Callers hold s.mu.
func (s *series) forget(oldest int64) {
	k := 0
	for k < len(s.slots) && s.slots[k].epoch < oldest {
		k++
	}
	if k == 0 {
		return
	}
	clear(s.slots[:k])
	s.slots = s.slots[k:]
	if len(s.slots) == 0 {
		s.slots = nil
	}
}

// snapshot returns the cumulative counts and, if since is non-zero, the
// window since then. Slots beyond the horizon of a non-zero now are
// forgotten, so that a series without traffic lets its slots go.
func (s *series) snapshot(since, now time.Time) (Counts, *Window) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nowE := now.UnixNano() / int64(windowResolution)
	oldest := nowE - windowSlots + 1
	if !now.IsZero() {
		s.forget(oldest)
	}
	total := s.total.export()
	if since.IsZero() {
		return total, nil
	}
	fromE := since.UnixNano() / int64(windowResolution)
	if fromE < oldest {
		fromE = oldest
	}
	var w counts
	for _, sl := range s.slots {
		if sl.epoch >= fromE && sl.epoch <= nowE {
			w.add(&sl.counts)
		}
	}
	return total, &Window{
		Since:                       time.Unix(0, fromE*int64(windowResolution)).UTC(),
		Counts:                      w.export(),
		LatencyQuantiles:            w.latency.quantiles(),
		TTFTQuantiles:               w.ttft.quantiles(),
		RealtimeFirstDeltaQuantiles: w.sessionsOrNone().realtimeFirstDelta.quantiles(),
	}
}

type seriesKey struct{ route, version, role string }

// registry owns every series; series are created on first use and kept for
// the life of the process so cumulative counts never go back.
type registry struct {
	mu            sync.Mutex
	m             map[seriesKey]*series
	shadowDropped atomic.Uint64
}

func newRegistry() *registry { return &registry{m: make(map[seriesKey]*series)} }

func (r *registry) get(route, version, role string) *series {
	k := seriesKey{route, version, role}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.m[k]
	if !ok {
		s = newSeries(route, version, role)
		r.m[k] = s
	}
	return s
}

func (r *registry) all() []*series {
	r.mu.Lock()
	out := make([]*series, 0, len(r.m))
	for _, s := range r.m {
		out = append(out, s)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.route != b.route {
			return a.route < b.route
		}
		if a.version != b.version {
			return a.version < b.version
		}
		return a.role < b.role
	})
	return out
}

// collector exposes the registry to Prometheus at scrape time, so the
// request path updates one set of counters only.
type collector struct {
	reg                                                  *registry
	requests, errors, timeouts, connFail, clientErr, cxl *prometheus.Desc
	latency, ttft, tokens, toolCalls, cost, dropped      *prometheus.Desc
	sessions, sessionErrors, upgradeFail, closes         *prometheus.Desc
	sessionDuration, firstDelta                          *prometheus.Desc
}

func newCollector(reg *registry) *collector {
	l := []string{"route", "version", "role"}
	d := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc("coalmine_gateway_"+name, help, append(append([]string{}, l...), extra...), nil)
	}
	return &collector{
		reg:       reg,
		requests:  d("requests_total", "Requests finished, by route, version and role."),
		errors:    d("errors_total", "Server-side failures: 5xx answers, timeouts and connection failures."),
		timeouts:  d("timeouts_total", "Upstream timeouts."),
		connFail:  d("connection_failures_total", "Backends that could not be reached."),
		clientErr: d("client_errors_total", "4xx answers (not counted as errors)."),
		cxl:       d("canceled_total", "Requests abandoned by the client."),
		latency:   d("request_duration_seconds", "Time from request arrival to the end of the answer."),
		ttft:      d("time_to_first_token_seconds", "Time to the first data event of streamed answers."),
		tokens:    d("tokens_total", "Tokens from usage, by direction (in = prompt, out = completion).", "direction"),
		toolCalls: d("tool_calls_total", "Tool calls in answers."),
		cost:      d("cost_usd_total", "Cost in USD computed from usage and the price table."),
		dropped:   prometheus.NewDesc("coalmine_gateway_shadow_dropped_total", "Mirrored copies dropped because the queue was full.", nil, nil),

		sessions:        d("sessions_total", "WebSocket sessions ended, failed upgrades included."),
		sessionErrors:   d("session_errors_total", "WebSocket sessions that failed: failed upgrades and abnormal closes."),
		upgradeFail:     d("upgrade_failures_total", "WebSocket upgrades the backend did not switch protocols for."),
		closes:          d("session_closes_total", "WebSocket sessions by the code of their first close frame (1006: none).", "code"),
		sessionDuration: d("session_duration_seconds", "Time from the protocol switch to the end of a WebSocket session."),
		firstDelta:      d("realtime_first_delta_seconds", "Realtime API: time from response.create to the first delta event."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.errors, c.timeouts, c.connFail, c.clientErr, c.cxl,
		c.latency, c.ttft, c.tokens, c.toolCalls, c.cost, c.dropped,
		c.sessions, c.sessionErrors, c.upgradeFail, c.closes, c.sessionDuration, c.firstDelta} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(c.reg.shadowDropped.Load()))
	now := time.Now()
	for _, s := range c.reg.all() {
		t, _ := s.snapshot(time.Time{}, now)
		lv := []string{s.route, s.version, s.role}
		counter := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append(append([]string{}, lv...), extra...)...)
		}
		counter(c.requests, float64(t.Requests))
		counter(c.errors, float64(t.Errors))
		counter(c.timeouts, float64(t.Timeouts))
		counter(c.connFail, float64(t.ConnectionFailures))
		counter(c.clientErr, float64(t.ClientErrors))
		counter(c.cxl, float64(t.Canceled))
		counter(c.tokens, t.TokensIn.Sum, "in")
		counter(c.tokens, t.TokensOut.Sum, "out")
		counter(c.toolCalls, t.ToolCalls.Sum)
		counter(c.cost, t.Cost.Sum)
		counter(c.sessions, float64(t.Sessions))
		counter(c.sessionErrors, float64(t.SessionErrors))
		counter(c.upgradeFail, float64(t.UpgradeFailures))
		for code, n := range t.CloseCodes {
			counter(c.closes, float64(n), code)
		}
		for _, h := range []struct {
			d *prometheus.Desc
			h Histogram
		}{{c.latency, t.Latency}, {c.ttft, t.TTFT}, {c.sessionDuration, t.SessionDuration}, {c.firstDelta, t.RealtimeFirstDelta}} {
			b := make(map[float64]uint64, len(LatencyBucketsSeconds))
			for i, le := range LatencyBucketsSeconds {
				b[le] = h.h.Buckets[i]
			}
			ch <- prometheus.MustNewConstHistogram(h.d, h.h.Count, h.h.Sum, b, lv...)
		}
	}
}
