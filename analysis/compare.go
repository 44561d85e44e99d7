package analysis

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// CompareLimits bounds the canary's value against stable's, for a metric
// that is read as one number per version (plan field `compare`). Every set
// limit must hold; a nil limit is not checked. Relative limits are ratios
// canary/stable, as Kayenta's allowedIncrease: MaxRelativeIncrease 2.0
// allows up to twice stable's value. Absolute limits bound canary − stable.
type CompareLimits struct {
	// MaxRelativeIncrease is the largest allowed canary/stable ratio (2.0 = twice stable).
	MaxRelativeIncrease *float64 `json:"maxRelativeIncrease,omitempty"`
	// MaxRelativeDecrease is the largest allowed drop below stable as a
	// fraction of stable (0.1 = canary at least 0.9× stable).
	MaxRelativeDecrease *float64 `json:"maxRelativeDecrease,omitempty"`
	// MaxAbsolute is the largest allowed canary − stable (0.05 = up to 5 points above).
	MaxAbsolute *float64 `json:"maxAbsolute,omitempty"`
	// MinAbsolute is the smallest allowed canary − stable (-0.02 = at most 2 points below).
	MinAbsolute *float64 `json:"minAbsolute,omitempty"`
}

// Validate reports limits that cannot hold for any value.
func (l CompareLimits) Validate() error {
	var errs []error
	finite := func(name string, p *float64) bool {
		if p != nil && (math.IsNaN(*p) || math.IsInf(*p, 0)) {
			errs = append(errs, fmt.Errorf("%s is %v, want a finite number", name, *p))
			return false
		}
		return p != nil
	}
	if finite("maxRelativeIncrease", l.MaxRelativeIncrease) && *l.MaxRelativeIncrease <= 0 {
		errs = append(errs, fmt.Errorf("maxRelativeIncrease is %v, want a ratio above 0 (2.0 = twice stable)", *l.MaxRelativeIncrease))
	}
	if finite("maxRelativeDecrease", l.MaxRelativeDecrease) && (*l.MaxRelativeDecrease < 0 || *l.MaxRelativeDecrease > 1) {
		errs = append(errs, fmt.Errorf("maxRelativeDecrease is %v, want a fraction from 0 to 1 (0.1 = at most 10%% below stable)", *l.MaxRelativeDecrease))
	}
	hasMax, hasMin := finite("maxAbsolute", l.MaxAbsolute), finite("minAbsolute", l.MinAbsolute)
	if hasMax && hasMin && *l.MinAbsolute > *l.MaxAbsolute {
		errs = append(errs, fmt.Errorf("minAbsolute %v is above maxAbsolute %v", *l.MinAbsolute, *l.MaxAbsolute))
	}
	if l == (CompareLimits{}) {
		errs = append(errs, errors.New("no limit set; set at least one of maxRelativeIncrease, maxRelativeDecrease, maxAbsolute, minAbsolute"))
	}
	return errors.Join(errs...)
}

// Compare judges one look of a metric against stable. name labels the
// metric in the reason ("error rate"). Missing or NaN values are
// Inconclusive. When stable is 0, a relative limit holds only if canary is
// 0 too (any increase over nothing is unbounded). Sample sizes are recorded
// but not used: Compare judges the values as given; for a test that accounts
// for noise use the sequential test.
func Compare(name string, stable, canary float64, stableN, canaryN int64, l CompareLimits) Measurement {
	m := Measurement{Stable: []float64{stable}, Canary: []float64{canary}, Result: []float64{canary}, StableSamples: stableN, CanarySamples: canaryN}
	if name == "" {
		name = "value"
	}
	if err := l.Validate(); err != nil {
		m.Verdict, m.Reason = Error, fmt.Sprintf("compare %s: %v", name, err)
		return m
	}
	switch {
	case math.IsNaN(stable) && math.IsNaN(canary):
		m.Verdict, m.NoData, m.Reason = Inconclusive, true, fmt.Sprintf("no data for %s on either version", name)
		return m
	case math.IsNaN(stable):
		m.Verdict, m.NoData, m.Reason = Inconclusive, true, fmt.Sprintf("no data for stable's %s", name)
		return m
	case math.IsNaN(canary):
		m.Verdict, m.NoData, m.Reason = Inconclusive, true, fmt.Sprintf("no data for canary's %s", name)
		return m
	}
	ratio := canary / stable
	switch {
	case stable == 0 && canary == 0:
		ratio = 1
	case stable == 0:
		ratio = math.Inf(int(math.Copysign(1, canary)))
	}
	var broken, held []string
	check := func(ok bool, bad, good string) {
		if ok {
			held = append(held, good)
		} else {
			broken = append(broken, bad)
		}
	}
	c, s := fmtNum(canary), fmtNum(stable)
	if p := l.MaxRelativeIncrease; p != nil {
		check(ratio <= *p,
			fmt.Sprintf("canary %s %s is %s stable's %s, above the %s× allowed", name, c, fmtRatio(ratio), s, fmtNum(*p)),
			fmt.Sprintf("%s stable (up to %s× allowed)", fmtRatio(ratio), fmtNum(*p)))
	}
	if p := l.MaxRelativeDecrease; p != nil {
		floor := 1 - *p
		check(ratio >= floor,
			fmt.Sprintf("canary %s %s is %s stable's %s, below the %s× allowed (at most %s%% lower)", name, c, fmtRatio(ratio), s, fmtNum(floor), fmtNum(100**p)),
			fmt.Sprintf("%s stable (down to %s× allowed)", fmtRatio(ratio), fmtNum(floor)))
	}
	diff := canary - stable
	if p := l.MaxAbsolute; p != nil {
		check(diff <= *p,
			fmt.Sprintf("canary %s %s is %s above stable's %s, more than the %s allowed", name, c, fmtNum(diff), s, fmtNum(*p)),
			fmt.Sprintf("%s above stable (up to %s allowed)", fmtSigned(diff), fmtNum(*p)))
	}
	if p := l.MinAbsolute; p != nil {
		check(diff >= *p,
			fmt.Sprintf("canary %s %s is %s below stable's %s, more than the %s allowed", name, c, fmtNum(-diff), s, fmtNum(-*p)),
			fmt.Sprintf("%s against stable (down to %s allowed)", fmtSigned(diff), fmtSigned(*p)))
	}
	if len(broken) > 0 {
		m.Verdict, m.Reason = Fail, strings.Join(broken, "; ")
		return m
	}
	m.Verdict = Pass
	m.Reason = fmt.Sprintf("canary %s %s vs stable's %s: %s", name, c, s, strings.Join(held, ", "))
	return m
}

func fmtRatio(r float64) string {
	if math.IsInf(r, 0) {
		return "infinitely above"
	}
	return fmt.Sprintf("%.3g×", r)
}

func fmtSigned(x float64) string {
	if x > 0 {
		return "+" + fmtNum(x)
	}
	return fmtNum(x)
}
