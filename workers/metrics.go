package workers

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// PrometheusHandler passes the metrics that workflows and the SDK emit to
// a Prometheus registry. The Rollout workflow emits coalmine_rollouts_total
// (by app and outcome), coalmine_step_duration_seconds (by app and step
// kind) and coalmine_canary_weight (by app) through workflow.GetMetricsHandler,
// which the SDK keeps quiet during replay. The SDK's own metrics (temporal_*)
// come through too.
type PrometheusHandler struct {
	reg  prometheus.Registerer
	tags map[string]string
	vecs *vecs
}

type vecs struct {
	mu     sync.Mutex
	counts map[string]*prometheus.CounterVec
	gauges map[string]*prometheus.GaugeVec
	hists  map[string]*prometheus.HistogramVec
	labels map[string][]string
}

// NewPrometheusHandler returns a handler that registers metrics in reg as they are first used.
func NewPrometheusHandler(reg prometheus.Registerer) *PrometheusHandler {
	return &PrometheusHandler{reg: reg, vecs: &vecs{
		counts: map[string]*prometheus.CounterVec{},
		gauges: map[string]*prometheus.GaugeVec{},
		hists:  map[string]*prometheus.HistogramVec{},
		labels: map[string][]string{},
	}}
}

var _ client.MetricsHandler = (*PrometheusHandler)(nil)

// WithTags returns a handler that adds tags as labels.
func (h *PrometheusHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[sanitize(k)] = v
	}
	return &PrometheusHandler{reg: h.reg, tags: merged, vecs: h.vecs}
}

// vecFor returns the vector registered under name in m, making and
// registering it with newVec on first use. ok is false when the vector
// cannot be used with these label names: registration failed, or the name
// was first used with other labels, which Prometheus does not allow.
func vecFor[V prometheus.Collector](h *PrometheusHandler, m map[string]V, name string, names []string, newVec func() V) (v V, ok bool) {
	h.vecs.mu.Lock()
	defer h.vecs.mu.Unlock()
	v, ok = m[name]
	if !ok {
		v = newVec()
		if !h.register(name, names, v) {
			return v, false
		}
		m[name] = v
	}
	return v, sameLabels(h.vecs.labels[name], names)
}

// Counter returns a counter; increments are dropped when the labels of a
// name change between uses, which Prometheus does not allow.
func (h *PrometheusHandler) Counter(name string) client.MetricsCounter {
	name = sanitize(name)
	names, values := h.labelSet(name)
	v, ok := vecFor(h, h.vecs.counts, name, names, func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: "Counter " + name + "."}, names)
	})
	if !ok {
		return nop{}
	}
	c := v.WithLabelValues(values...)
	return counterFunc(func(d int64) { c.Add(float64(d)) })
}

// Gauge returns a gauge.
func (h *PrometheusHandler) Gauge(name string) client.MetricsGauge {
	name = sanitize(name)
	names, values := h.labelSet(name)
	v, ok := vecFor(h, h.vecs.gauges, name, names, func() *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: "Gauge " + name + "."}, names)
	})
	if !ok {
		return nop{}
	}
	return gaugeFunc(v.WithLabelValues(values...).Set)
}

// Timer returns a histogram in seconds; "_seconds" is appended to the name.
func (h *PrometheusHandler) Timer(name string) client.MetricsTimer {
	name = sanitize(name)
	if !strings.HasSuffix(name, "_seconds") {
		name += "_seconds"
	}
	names, values := h.labelSet(name)
	v, ok := vecFor(h, h.vecs.hists, name, names, func() *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    name,
			Help:    "Durations " + name + ".",
			Buckets: []float64{.005, .05, .5, 1, 5, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
		}, names)
	})
	if !ok {
		return nop{}
	}
	o := v.WithLabelValues(values...)
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

// register registers c under name; callers hold h.vecs.mu.
func (h *PrometheusHandler) register(name string, labels []string, c prometheus.Collector) bool {
	if err := h.reg.Register(c); err != nil {
		return false
	}
	h.vecs.labels[name] = labels
	return true
}

// coalmineLabel reports whether a label is kept on coalmine_* metrics: the
// ones the workflow sets and where it runs, not the SDK's worker context.
func coalmineLabel(name string) bool {
	switch name {
	case "app", "kind", "outcome", "phase", "namespace", "task_queue":
		return true
	}
	return false
}

func (h *PrometheusHandler) labelSet(name string) (names, values []string) {
	for k := range h.tags {
		if strings.HasPrefix(name, "coalmine_") && !coalmineLabel(k) {
			continue
		}
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		values = append(values, h.tags[k])
	}
	return names, values
}

func sameLabels(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sanitize turns a metric or tag name into a valid Prometheus name.
func sanitize(s string) string {
	var b strings.Builder
	for i, r := range s {
		ok := r == '_' || r == ':' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if ok {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

type nop struct{}

func (nop) Inc(int64)            {}
func (nop) Update(float64)       {}
func (nop) Record(time.Duration) {}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
