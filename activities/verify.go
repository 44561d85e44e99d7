package activities

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// weightTolerance is how far two percentages may differ and still be the
// same weight (the routers keep two decimals).
const weightTolerance = 0.005

// VerifyTraffic reads the router's split and, when it differs from
// in.Want, sets every part that differs again and reads it back. The
// comparison is made here, not in the workflow, so that what was found is
// recorded in history.
func (a *Activities) VerifyTraffic(ctx context.Context, in api.VerifyInput) (api.VerifyResult, error) {
	r, err := a.router(ctx, in.TrafficInput)
	if err != nil {
		return api.VerifyResult{}, err
	}
	var out api.VerifyResult
	err = a.heartbeating(ctx, func(ctx context.Context) error {
		found, err := r.Read(ctx)
		if err != nil {
			return fmt.Errorf("read back the %s router for %s: %w", in.Traffic.Router, in.Target.App, err)
		}
		out = api.VerifyResult{Found: found, Drift: drift(found, in.Want)}
		if out.Drift == "" {
			return nil
		}
		if err := restore(ctx, r, in, found); err != nil {
			err = fmt.Errorf("restore the %s router's split for %s (%s): %w", in.Traffic.Router, in.Target.App, out.Drift, err)
			return failure(ctx, err, routerFallback(err))
		}
		again, err := r.Read(ctx)
		if err != nil {
			return fmt.Errorf("read back the %s router for %s after restoring it: %w", in.Traffic.Router, in.Target.App, err)
		}
		if d := drift(again, in.Want); d != "" {
			return fmt.Errorf("restored the %s router's split for %s, but it reads back with %s", in.Traffic.Router, in.Target.App, d)
		}
		return nil
	})
	if err != nil {
		return api.VerifyResult{}, err
	}
	if out.Drift != "" {
		a.logger().WarnContext(ctx, "traffic split restored", "app", in.Target.App, "router", in.Traffic.Router, "drift", out.Drift)
	}
	return out, nil
}

// drift says how found differs from want, part by part; empty when it
// does not. Only segments that want names are compared.
func drift(found, want api.TrafficState) string {
	var parts []string
	differs := func(a, b float64) bool { return math.Abs(a-b) > weightTolerance }
	if differs(found.CanaryWeight, want.CanaryWeight) {
		parts = append(parts, fmt.Sprintf("canary weight found at %s%%, expected %s%%", pct(found.CanaryWeight), pct(want.CanaryWeight)))
	}
	names := make([]string, 0, len(want.SegmentWeights))
	for n := range want.SegmentWeights {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if differs(found.SegmentWeights[n], want.SegmentWeights[n]) {
			parts = append(parts, fmt.Sprintf("segment %s found at %s%%, expected %s%%", n, pct(found.SegmentWeights[n]), pct(want.SegmentWeights[n])))
		}
	}
	if differs(found.ShadowPercent, want.ShadowPercent) {
		parts = append(parts, fmt.Sprintf("shadow found at %s%%, expected %s%%", pct(found.ShadowPercent), pct(want.ShadowPercent)))
	}
	return strings.Join(parts, "; ")
}

// restore sets again each part of the split that differs.
func restore(ctx context.Context, r api.Router, in api.VerifyInput, found api.TrafficState) error {
	want := in.Want
	if math.Abs(found.CanaryWeight-want.CanaryWeight) > weightTolerance {
		if err := r.SetWeight(ctx, want.CanaryWeight); err != nil {
			return err
		}
	}
	for _, seg := range in.Segments {
		w, ok := want.SegmentWeights[seg.Name]
		if ok && math.Abs(found.SegmentWeights[seg.Name]-w) > weightTolerance {
			if err := r.SetSegmentWeight(ctx, seg, w); err != nil {
				return err
			}
		}
	}
	if math.Abs(found.ShadowPercent-want.ShadowPercent) > weightTolerance {
		if err := r.SetShadow(ctx, want.ShadowPercent); err != nil {
			return err
		}
	}
	return nil
}

// pct formats a percentage without trailing zeros.
func pct(p float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", p), "0"), ".")
}
