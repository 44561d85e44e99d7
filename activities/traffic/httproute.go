package traffic

import (
	"context"
	"fmt"
	"math"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// HTTPRouteTraffic points at a Gateway API HTTPRoute and the two Services
// among its backendRefs.
type HTTPRouteTraffic struct {
	// Namespace of the HTTPRoute; defaults to the workload's namespace, then "default".
	Namespace string `json:"namespace,omitempty"`
	// Name of the HTTPRoute.
	Name string `json:"name"`
	// Rule is the name of the rule to change; may be omitted when the route has one rule.
	Rule string `json:"rule,omitempty"`
	// StableService is the backendRef that serves the stable version.
	StableService string `json:"stableService"`
	// CanaryService is the backendRef that serves the canary version.
	CanaryService string `json:"canaryService"`
}

// Check checks the httproute router's block: the HTTPRoute and its two Services.
func (h *HTTPRouteTraffic) Check(f plans.Fields, path string) {
	f.Need(path, "name", h.Name, "name: voice-agent")
	f.Need(path, "stableService", h.StableService, "stableService: voice-agent")
	f.Need(path, "canaryService", h.CanaryService, "canaryService: voice-agent-canary")
}

// Kind is httproute.
func (*HTTPRouteTraffic) Kind() string { return NameHTTPRoute }

// Cannot is empty: header matches and mirrors carry out every kind of step.
func (*HTTPRouteTraffic) Cannot() []string { return nil }

// ApplyDefaults sets the namespace (the workload's).
func (h *HTTPRouteTraffic) ApplyDefaults(s *plans.Spec) {
	if h.Namespace == "" {
		h.Namespace = s.WorkloadNamespace()
	}
}

// WhatToCheck names the HTTPRoute.
func (h *HTTPRouteTraffic) WhatToCheck() string {
	return fmt.Sprintf("the HTTPRoute %s and the worker's Kubernetes access to it", h.Name)
}

// NameHTTPRoute is the router name of Gateway API HTTPRoutes.
const NameHTTPRoute = plans.RouterHTTPRoute

// httpRoutes is the Gateway API HTTPRoute resource the router changes.
func httpRoutes() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
}

// HTTPRoute moves traffic on one rule of a Gateway API HTTPRoute: the
// weights of the stable and canary backendRefs; a header-match rule per
// segment that coalmine creates and names coalmine-segment-<name>; a
// RequestMirror filter to the canary for shadow traffic. Rules and filters
// it did not create are never changed.
type HTTPRoute struct {
	res resource
	cfg HTTPRouteTraffic
}

// NewHTTPRoute is the Builder of the httproute router.
func NewHTTPRoute(_ context.Context, in api.TrafficInput, deps Deps) (api.Router, error) {
	h, _ := in.Traffic.Block.(*HTTPRouteTraffic)
	switch {
	case h == nil || h.Name == "":
		return nil, fmt.Errorf("httproute router for %s: traffic.httproute.name is required: %w", in.Target.App, api.ErrInvalidConfig)
	case h.StableService == "" || h.CanaryService == "":
		return nil, fmt.Errorf("httproute router for %s: traffic.httproute.stableService and canaryService are required: %w", in.Target.App, api.ErrInvalidConfig)
	}
	cfg := *h
	if cfg.Namespace == "" {
		cfg.Namespace = plans.DefaultNamespace
	}
	k, err := deps.kube(NameHTTPRoute)
	if err != nil {
		return nil, err
	}
	return &HTTPRoute{res: newResource(k, httpRoutes(), "HTTPRoute", cfg.Namespace, cfg.Name), cfg: cfg}, nil
}

// rules returns the route's rules and the index of the rule the plan names.
func (h *HTTPRoute) rules(obj *unstructured.Unstructured) ([]any, int, error) {
	rules, _, _ := unstructured.NestedSlice(obj.Object, "spec", "rules")
	i, err := pickEntry(h.res, rules, h.cfg.Rule, "rule", "traffic.httproute.rule")
	return rules, i, err
}

// backendRef finds the backendRef named name in a rule.
func backendRef(rule map[string]any, idx int, name string) (map[string]any, error) {
	for _, b := range asList(rule["backendRefs"]) {
		m := asMap(b)
		if str(m, "name") == name && (str(m, "kind") == "" || str(m, "kind") == "Service") {
			return m, nil
		}
	}
	return nil, fmt.Errorf("backendRef %s not found in rule %s: %w", name, label(rule, idx), api.ErrInvalidConfig)
}

// pair returns the stable and canary backendRefs of a rule.
func (h *HTTPRoute) pair(rule map[string]any, idx int) (stable, canary map[string]any, err error) {
	if stable, err = backendRef(rule, idx, h.cfg.StableService); err != nil {
		return nil, nil, err
	}
	if canary, err = backendRef(rule, idx, h.cfg.CanaryService); err != nil {
		return nil, nil, err
	}
	return stable, canary, nil
}

// weightOf is a backendRef's weight; the API's default is 1.
func weightOf(b map[string]any) int64 {
	w, ok := num(b["weight"])
	if !ok {
		return 1
	}
	return int64(w)
}

// change edits the plan's rule on a fresh copy of the route and writes it
// when something changed.
func (h *HTTPRoute) change(ctx context.Context, op string, edit func(rules []any, main int) ([]any, error)) error {
	return h.res.modify(ctx, op, func(obj *unstructured.Unstructured) error {
		rules, i, err := h.rules(obj)
		if err != nil {
			return err
		}
		if _, _, err := h.pair(asMap(rules[i]), i); err != nil {
			return err
		}
		rules, err = edit(rules, i)
		if err != nil {
			return err
		}
		return unstructured.SetNestedSlice(obj.Object, rules, "spec", "rules")
	})
}

// setPair writes absolute weights on the stable and canary backendRefs.
func (h *HTTPRoute) setPair(rule map[string]any, idx int, percent float64) {
	s, c, _ := h.pair(rule, idx)
	s["weight"], c["weight"] = weightPair(percent)
}

// SetWeight sends percent of the requests of the plan's rule to the canary.
func (h *HTTPRoute) SetWeight(ctx context.Context, percent float64) error {
	if err := checkPercent(percent); err != nil {
		return err
	}
	return h.change(ctx, fmt.Sprintf("set weight %v%%", percent), func(rules []any, i int) ([]any, error) {
		h.setPair(asMap(rules[i]), i, percent)
		return rules, nil
	})
}

// SetSegmentWeight sends percent of one segment's requests to the canary,
// through a rule coalmine owns just before the plan's rule: the plan's
// rule's matches, each narrowed by the segment's header, and only the
// stable and canary backendRefs.
func (h *HTTPRoute) SetSegmentWeight(ctx context.Context, seg plans.Segment, percent float64) error {
	if err := checkPercent(percent); err != nil {
		return err
	}
	headers, err := segmentHeaders(seg)
	if err != nil {
		return err
	}
	return h.change(ctx, fmt.Sprintf("set segment %s weight %v%%", seg.Name, percent), func(rules []any, i int) ([]any, error) {
		main := asMap(rules[i])
		rule := deepCopyMap(main)
		rule["name"] = segmentEntryName(seg.Name)
		s, c, _ := h.pair(rule, i)
		rule["backendRefs"] = []any{s, c}
		h.setPair(rule, i, percent)
		var filters []any
		for _, f := range asList(rule["filters"]) {
			if !h.ownMirror(asMap(f)) {
				filters = append(filters, f)
			}
		}
		if len(filters) == 0 {
			delete(rule, "filters")
		} else {
			rule["filters"] = filters
		}
		base := asList(main["matches"])
		if len(base) == 0 {
			base = []any{map[string]any{}}
		}
		var matches []any
		for _, m := range base {
			for _, hv := range headers {
				mm := deepCopyMap(asMap(m))
				mm["headers"] = append(asList(mm["headers"]), map[string]any{"type": "Exact", "name": hv[0], "value": hv[1]})
				matches = append(matches, mm)
			}
		}
		if len(matches) > 64 {
			return nil, fmt.Errorf("segment %s needs %d matches, more than an HTTPRoute rule holds (64): %w", seg.Name, len(matches), api.ErrInvalidConfig)
		}
		rule["matches"] = matches
		return upsertBefore(rules, i, rule), nil
	})
}

// ownMirror reports whether a filter is coalmine's mirror to the canary.
func (h *HTTPRoute) ownMirror(f map[string]any) bool {
	if str(f, "type") != "RequestMirror" {
		return false
	}
	return str(asMap(asMap(f["requestMirror"])["backendRef"]), "name") == h.cfg.CanaryService
}

// SetShadow mirrors percent of the plan's rule's requests to the canary
// with a RequestMirror filter; 0 removes the filter.
func (h *HTTPRoute) SetShadow(ctx context.Context, percent float64) error {
	if err := checkPercent(percent); err != nil {
		return err
	}
	return h.change(ctx, fmt.Sprintf("set shadow %v%%", percent), func(rules []any, i int) ([]any, error) {
		rule := asMap(rules[i])
		_, c, _ := h.pair(rule, i)
		var filters []any
		var own map[string]any
		for _, f := range asList(rule["filters"]) {
			if h.ownMirror(asMap(f)) {
				own = asMap(f)
				continue
			}
			filters = append(filters, f)
		}
		if percent > 0 {
			if own == nil {
				own = map[string]any{"type": "RequestMirror"}
			}
			ref := map[string]any{"name": h.cfg.CanaryService}
			if p, ok := c["port"]; ok {
				ref["port"] = p
			}
			if ns, ok := c["namespace"]; ok {
				ref["namespace"] = ns
			}
			mirror := map[string]any{"backendRef": ref}
			if percent == math.Trunc(percent) {
				mirror["percent"] = int64(percent)
			} else {
				mirror["fraction"] = map[string]any{"numerator": int64(math.Round(percent * 100)), "denominator": int64(10000)}
			}
			own["requestMirror"] = mirror
			filters = append(filters, own)
		}
		if len(filters) == 0 {
			delete(rule, "filters")
		} else {
			rule["filters"] = filters
		}
		return rules, nil
	})
}

// Promote puts all traffic on the stable backendRef, which by then runs
// the new version (the workload lifecycle promoted it first), and removes
// coalmine's rules and mirror.
func (h *HTTPRoute) Promote(ctx context.Context) error { return h.allStable(ctx, "promote") }

// Reset puts all traffic on the stable backendRef and removes coalmine's
// segment rules and mirror.
func (h *HTTPRoute) Reset(ctx context.Context) error { return h.allStable(ctx, "reset") }

func (h *HTTPRoute) allStable(ctx context.Context, op string) error {
	if err := h.SetShadow(ctx, 0); err != nil {
		return err
	}
	return h.change(ctx, op, func(rules []any, i int) ([]any, error) {
		main := asMap(rules[i])
		h.setPair(main, i, 0)
		return dropOwned(rules), nil
	})
}

// Read reports the split of the plan's rule, of each segment rule and the
// mirror share.
func (h *HTTPRoute) Read(ctx context.Context) (api.TrafficState, error) {
	obj, err := h.res.get(ctx)
	if err != nil {
		return api.TrafficState{}, err
	}
	rules, i, err := h.rules(obj)
	if err != nil {
		return api.TrafficState{}, err
	}
	main := asMap(rules[i])
	s, c, err := h.pair(main, i)
	if err != nil {
		return api.TrafficState{}, err
	}
	st := api.TrafficState{CanaryWeight: share(weightOf(s), weightOf(c))}
	for j, r := range rules {
		rule := asMap(r)
		seg := segmentOf(rule)
		if seg == "" {
			continue
		}
		s, c, err := h.pair(rule, j)
		if err != nil {
			return api.TrafficState{}, err
		}
		if st.SegmentWeights == nil {
			st.SegmentWeights = map[string]float64{}
		}
		st.SegmentWeights[seg] = share(weightOf(s), weightOf(c))
	}
	for _, f := range asList(main["filters"]) {
		if !h.ownMirror(asMap(f)) {
			continue
		}
		m := asMap(asMap(f)["requestMirror"])
		switch {
		case m["percent"] != nil:
			p, _ := num(m["percent"])
			st.ShadowPercent = p
		case m["fraction"] != nil:
			fr := asMap(m["fraction"])
			n, _ := num(fr["numerator"])
			d, ok := num(fr["denominator"])
			if !ok {
				d = 100
			}
			if d > 0 {
				st.ShadowPercent = math.Round(n*10000/d) / 100
			}
		default:
			st.ShadowPercent = 100
		}
	}
	return st, nil
}
