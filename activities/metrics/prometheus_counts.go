package metrics

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// counts measures a metric in the counts form: the total and outcome
// queries run once per version (the canary's alone when the metric does not
// compare versions), each answering cumulative counters, and
// countsLook judges the counts since the first look. An empty outcome
// answer is zero outcomes (a version's first error creates its series); a
// version whose total answer is empty has no trials yet.
func (p *Prometheus) counts(q api.Query, c plans.Counts, ask func(what, tmpl, version string) (model.Value, error), now time.Time) (api.Result, error) {
	m := q.Metric
	prev, err := loadCounts(KindPrometheus, m, q.State)
	if err != nil {
		return api.Result{}, err
	}
	next := prev
	outcome, _ := c.Outcome()
	for _, v := range next.toRead(q) {
		for _, r := range []struct {
			what, tmpl string
			dst        *counter
		}{{"prometheus counts.total", c.Total, &v.dst.Total}, {"prometheus counts outcome", outcome, &v.dst.Outcome}} {
			val, err := ask(r.what, r.tmpl, v.name)
			if err != nil {
				return api.Result{}, err
			}
			series, err := promSeries(val)
			if err != nil {
				return api.Result{}, fmt.Errorf("metric %s: %s of %s: %w", m.Name, r.what, v.name, err)
			}
			*r.dst = r.dst.observe(series)
		}
	}
	return countsResult(KindPrometheus, q, c, "", prev, next, now)
}

// promSeries reads an instant query's answer as counters by their labels:
// a vector's samples, or a scalar (labels ""). Nothing is no counters.
func promSeries(v model.Value) (map[string]float64, error) {
	out := map[string]float64{}
	switch x := v.(type) {
	case model.Vector:
		for _, s := range x {
			out[s.Metric.String()] = float64(s.Value)
		}
	case *model.Scalar:
		out[""] = float64(x.Value)
	case nil:
	default:
		return nil, fmt.Errorf("an instant query answered a %s, want a vector or scalar: %w", v.Type(), ErrBadAnswer)
	}
	return out, nil
}
