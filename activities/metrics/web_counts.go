package metrics

import (
	"context"
	"fmt"
	"math"

	"github.com/ohler55/ojg/jp"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// counts measures a metric in the counts form: one call per version (the
// canary's alone when the metric does not compare versions), whose
// answer gives the number of cases and the passed (or failed) ones. Each
// call's cases are new trials, added to the earlier looks' (an eval run
// per look), and countsLook judges the sums. An answer whose paths select
// nothing adds no cases.
func (w *Web) counts(ctx context.Context, q api.Query, cfg *WebProvider) (api.Result, error) {
	m := q.Metric
	c := *cfg.RawCounts
	outcome, _ := c.Outcome()
	total, err := jp.ParseString(c.Total)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: parse counts.total %q: %w: %w", m.Name, c.Total, err, api.ErrInvalidConfig)
	}
	out, err := jp.ParseString(outcome)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: parse counts path %q: %w: %w", m.Name, outcome, err, api.ErrInvalidConfig)
	}
	prev, err := loadCounts(KindWeb, m, q.State)
	if err != nil {
		return api.Result{}, err
	}
	next := prev
	for _, v := range next.toRead(q) {
		doc, op, err := w.answer(ctx, q, cfg, v.name)
		if err != nil {
			return api.Result{}, err
		}
		n, err := w.count(ctx, q, doc, op, c.Total, total, v.name)
		if err != nil {
			return api.Result{}, err
		}
		k, err := w.count(ctx, q, doc, op, outcome, out, v.name)
		if err != nil {
			return api.Result{}, err
		}
		if n > 0 {
			v.dst.Total.Sum += n
			v.dst.Outcome.Sum += min(k, n)
		}
	}
	return countsResult(KindWeb, q, c, "cases", prev, next, w.d.now())
}

// count is the count at path in an answer: the sum of the numbers it
// selects (0 when none), which must be whole and not negative.
func (w *Web) count(ctx context.Context, q api.Query, doc any, op, src string, path jp.Expr, version string) (float64, error) {
	nums, err := w.pick(ctx, q, doc, op, src, path, version)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, x := range nums {
		if x < 0 || x != math.Trunc(x) || math.IsInf(x, 0) {
			return 0, fmt.Errorf("metric %s: %s: value at %s is %v, want a whole count: %w", q.Metric.Name, op, src, x, ErrBadAnswer)
		}
		sum += x
	}
	return sum, nil
}
