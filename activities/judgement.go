package activities

import (
	"fmt"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/plans"
)

// judge turns one measurement of metric m into the metric's record and
// phase: a look below the metric's sample floor is waiting for data; a look
// waiting for data after the canary has had traffic for noDataTimeout is
// Inconclusive; then the limits assess the record. It runs inside the
// Measure activity so that every one of these decisions is recorded in the
// workflow's history.
func judge(m plans.Metric, meas analysis.Measurement, in api.JudgeInput) (analysis.Measurement, analysis.History, analysis.Assessment) {
	meas = belowFloor(m, meas)
	if meas.NoData {
		timeout := noDataTimeout(m, in.Limits.Interval)
		if in.ExposedFor > 0 && in.ExposedFor >= timeout {
			meas.NoData = false
			meas.Reason = fmt.Sprintf("no data %s after the canary got traffic (noDataTimeout %s): %s", in.ExposedFor.Round(time.Second), timeout, meas.Reason)
		}
	}
	h := in.History
	h.Add(meas)
	return meas, h, analysis.Assess(h, in.Limits, false)
}

// belowFloor makes a judged look with fewer samples than the metric's
// minSamples a look that waits for data. Canary samples count for every
// metric, stable samples where the look compares the versions.
func belowFloor(m plans.Metric, meas analysis.Measurement) analysis.Measurement {
	if m.MinSamples <= 0 || meas.NoData || meas.Verdict == analysis.Error {
		return meas
	}
	floor := int64(m.MinSamples)
	var short []string
	if meas.CanarySamples < floor {
		short = append(short, fmt.Sprintf("%d canary", meas.CanarySamples))
	}
	if len(meas.Stable) > 0 && meas.StableSamples < floor {
		short = append(short, fmt.Sprintf("%d stable", meas.StableSamples))
	}
	if len(short) == 0 {
		return meas
	}
	what := short[0]
	if len(short) == 2 {
		what = short[0] + " and " + short[1]
	}
	out := meas
	out.Verdict, out.NoData, out.Final, out.Pending = analysis.Inconclusive, true, false, false
	out.Reason = fmt.Sprintf("waiting for data: %s samples, below minSamples %d (%s: %s)", what, floor, meas.Verdict, meas.Reason)
	return out
}

// noDataTimeout is the metric's noDataTimeout, or 5 × interval.
func noDataTimeout(m plans.Metric, interval time.Duration) time.Duration {
	if m.NoDataTimeout.Duration > 0 {
		return m.NoDataTimeout.Duration
	}
	if interval <= 0 {
		interval = plans.DefaultInterval
	}
	return plans.DefaultNoDataIntervals * interval
}
