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

// VirtualServiceTraffic points at an Istio VirtualService route and its two
// destinations, given by host or by subset.
type VirtualServiceTraffic struct {
	// Namespace of the VirtualService; defaults to the workload's namespace, then "default".
	Namespace string `json:"namespace,omitempty"`
	// Name of the VirtualService.
	Name string `json:"name"`
	// Route is the name of the HTTP route to change; may be omitted when there is one.
	Route string `json:"route,omitempty"`
	// StableHost is the stable destination's host.
	StableHost string `json:"stableHost"`
	// CanaryHost is the canary destination's host; defaults to StableHost when subsets are used.
	CanaryHost string `json:"canaryHost,omitempty"`
	// StableSubset is the stable destination's subset (DestinationRule).
	StableSubset string `json:"stableSubset,omitempty"`
	// CanarySubset is the canary destination's subset (DestinationRule).
	CanarySubset string `json:"canarySubset,omitempty"`
}

// Check checks the virtualservice router's block: the VirtualService, the
// stable host, and a canary host or a pair of subsets.
func (v *VirtualServiceTraffic) Check(f plans.Fields, path string) {
	f.Need(path, "name", v.Name, "name: voice-agent")
	f.Need(path, "stableHost", v.StableHost, "stableHost: voice-agent")
	if v.CanaryHost == "" && (v.StableSubset == "" || v.CanarySubset == "") {
		f.Errorf(path, "add canaryHost: voice-agent-canary, or stableSubset and canarySubset",
			"the canary destination needs canaryHost or a pair of subsets")
	}
}

// Kind is virtualservice.
func (*VirtualServiceTraffic) Kind() string { return NameVirtualService }

// Cannot is empty: header matches and mirrors carry out every kind of step.
func (*VirtualServiceTraffic) Cannot() []string { return nil }

// ApplyDefaults sets the namespace (the workload's) and the canary host
// (the stable host, for subsets).
func (v *VirtualServiceTraffic) ApplyDefaults(s *plans.Spec) {
	if v.Namespace == "" {
		v.Namespace = s.WorkloadNamespace()
	}
	if v.CanaryHost == "" {
		v.CanaryHost = v.StableHost
	}
}

// WhatToCheck names the VirtualService.
func (v *VirtualServiceTraffic) WhatToCheck() string {
	return fmt.Sprintf("the VirtualService %s and the worker's Kubernetes access to it", v.Name)
}

// NameVirtualService is the router name of Istio VirtualServices.
const NameVirtualService = plans.RouterVirtualService

// virtualServices is the Istio VirtualService resource the router changes.
func virtualServices() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
}

// VirtualService moves traffic on one HTTP route of an Istio
// VirtualService: the weights of the stable and canary destinations (by
// host or subset); a header-match route per segment that coalmine creates
// just before it and names coalmine-segment-<name>; mirror and
// mirrorPercentage to the canary for shadow traffic. Routes it did not
// create are never changed.
type VirtualService struct {
	res resource
	cfg VirtualServiceTraffic
}

// NewVirtualService is the Builder of the virtualservice router.
func NewVirtualService(_ context.Context, in api.TrafficInput, deps Deps) (api.Router, error) {
	v, _ := in.Traffic.Block.(*VirtualServiceTraffic)
	switch {
	case v == nil || v.Name == "":
		return nil, fmt.Errorf("virtualservice router for %s: traffic.virtualservice.name is required: %w", in.Target.App, api.ErrInvalidConfig)
	case v.StableHost == "":
		return nil, fmt.Errorf("virtualservice router for %s: traffic.virtualservice.stableHost is required: %w", in.Target.App, api.ErrInvalidConfig)
	}
	cfg := *v
	if cfg.Namespace == "" {
		cfg.Namespace = plans.DefaultNamespace
	}
	if cfg.CanaryHost == "" {
		cfg.CanaryHost = cfg.StableHost
	}
	if cfg.CanaryHost == cfg.StableHost && cfg.CanarySubset == cfg.StableSubset {
		return nil, fmt.Errorf("virtualservice router for %s: the stable and canary destinations are the same (host %s, subset %q): %w", in.Target.App, cfg.StableHost, cfg.StableSubset, api.ErrInvalidConfig)
	}
	k, err := deps.kube(NameVirtualService)
	if err != nil {
		return nil, err
	}
	return &VirtualService{res: newResource(k, virtualServices(), "VirtualService", cfg.Namespace, cfg.Name), cfg: cfg}, nil
}

// dest names a destination in messages: host, or host subset s.
func dest(host, subset string) string {
	if subset == "" {
		return host
	}
	return host + " subset " + subset
}

// destination finds the route destination with this host and subset.
func destination(route map[string]any, idx int, host, subset string) (map[string]any, error) {
	for _, d := range asList(route["route"]) {
		m := asMap(d)
		dd := asMap(m["destination"])
		if str(dd, "host") == host && str(dd, "subset") == subset {
			return m, nil
		}
	}
	return nil, fmt.Errorf("destination %s not found in route %s: %w", dest(host, subset), label(route, idx), api.ErrInvalidConfig)
}

func (v *VirtualService) pair(route map[string]any, idx int) (stable, canary map[string]any, err error) {
	if stable, err = destination(route, idx, v.cfg.StableHost, v.cfg.StableSubset); err != nil {
		return nil, nil, err
	}
	if canary, err = destination(route, idx, v.cfg.CanaryHost, v.cfg.CanarySubset); err != nil {
		return nil, nil, err
	}
	return stable, canary, nil
}

func (v *VirtualService) routes(obj *unstructured.Unstructured) ([]any, int, error) {
	routes, _, _ := unstructured.NestedSlice(obj.Object, "spec", "http")
	i, err := pickEntry(v.res, routes, v.cfg.Route, "route", "traffic.virtualservice.route")
	return routes, i, err
}

func (v *VirtualService) change(ctx context.Context, op string, edit func(routes []any, main int) ([]any, error)) error {
	return v.res.modify(ctx, op, func(obj *unstructured.Unstructured) error {
		routes, i, err := v.routes(obj)
		if err != nil {
			return err
		}
		if _, _, err := v.pair(asMap(routes[i]), i); err != nil {
			return err
		}
		routes, err = edit(routes, i)
		if err != nil {
			return err
		}
		return unstructured.SetNestedSlice(obj.Object, routes, "spec", "http")
	})
}

// wholePercent refuses shares an Istio weight cannot carry: its weights
// are whole percentages.
func wholePercent(p float64) error {
	if err := checkPercent(p); err != nil {
		return err
	}
	if p != math.Trunc(p) {
		return fmt.Errorf("VirtualService weights are whole percentages; %v is not one: %w", p, api.ErrInvalidConfig)
	}
	return nil
}

func (v *VirtualService) setPair(route map[string]any, idx int, percent float64) {
	s, c, _ := v.pair(route, idx)
	s["weight"], c["weight"] = 100-int64(percent), int64(percent)
}

// SetWeight sends percent of the route's requests to the canary.
func (v *VirtualService) SetWeight(ctx context.Context, percent float64) error {
	if err := wholePercent(percent); err != nil {
		return err
	}
	return v.change(ctx, fmt.Sprintf("set weight %v%%", percent), func(routes []any, i int) ([]any, error) {
		v.setPair(asMap(routes[i]), i, percent)
		return routes, nil
	})
}

// SetSegmentWeight sends percent of one segment's requests to the canary
// through a route coalmine owns, placed just before the plan's route
// (Istio takes the first route that matches).
func (v *VirtualService) SetSegmentWeight(ctx context.Context, seg plans.Segment, percent float64) error {
	if err := wholePercent(percent); err != nil {
		return err
	}
	headers, err := segmentHeaders(seg)
	if err != nil {
		return err
	}
	return v.change(ctx, fmt.Sprintf("set segment %s weight %v%%", seg.Name, percent), func(routes []any, i int) ([]any, error) {
		main := asMap(routes[i])
		route := deepCopyMap(main)
		route["name"] = segmentEntryName(seg.Name)
		delete(route, "mirror")
		delete(route, "mirrorPercentage")
		s, c, _ := v.pair(route, i)
		route["route"] = []any{s, c}
		v.setPair(route, i, percent)
		base := asList(main["match"])
		if len(base) == 0 {
			base = []any{map[string]any{}}
		}
		var matches []any
		for _, m := range base {
			for _, hv := range headers {
				mm := deepCopyMap(asMap(m))
				hs := asMap(mm["headers"])
				if hs == nil {
					hs = map[string]any{}
				}
				hs[hv[0]] = map[string]any{"exact": hv[1]}
				mm["headers"] = hs
				matches = append(matches, mm)
			}
		}
		route["match"] = matches
		return upsertBefore(routes, i, route), nil
	})
}

// ownMirror reports whether the route mirrors to the canary destination.
func (v *VirtualService) ownMirror(route map[string]any) bool {
	m := asMap(route["mirror"])
	return m != nil && str(m, "host") == v.cfg.CanaryHost && str(m, "subset") == v.cfg.CanarySubset
}

// SetShadow mirrors percent of the route's requests to the canary; 0
// removes the mirror. A mirror to another destination is refused rather
// than replaced.
func (v *VirtualService) SetShadow(ctx context.Context, percent float64) error {
	if err := checkPercent(percent); err != nil {
		return err
	}
	return v.change(ctx, fmt.Sprintf("set shadow %v%%", percent), func(routes []any, i int) ([]any, error) {
		route := asMap(routes[i])
		if route["mirror"] != nil && !v.ownMirror(route) {
			if percent == 0 {
				return routes, nil
			}
			m := asMap(route["mirror"])
			return nil, fmt.Errorf("route %s already mirrors to %s, which coalmine did not set: %w", label(route, i), dest(str(m, "host"), str(m, "subset")), api.ErrInvalidConfig)
		}
		if percent == 0 {
			delete(route, "mirror")
			delete(route, "mirrorPercentage")
			return routes, nil
		}
		m := map[string]any{"host": v.cfg.CanaryHost}
		if v.cfg.CanarySubset != "" {
			m["subset"] = v.cfg.CanarySubset
		}
		if _, c, _ := v.pair(route, i); c != nil {
			if p := asMap(asMap(c["destination"])["port"]); p != nil {
				m["port"] = p
			}
		}
		route["mirror"] = m
		if percent == math.Trunc(percent) {
			route["mirrorPercentage"] = map[string]any{"value": int64(percent)}
		} else {
			route["mirrorPercentage"] = map[string]any{"value": percent}
		}
		return routes, nil
	})
}

// Promote puts all traffic on the stable destination, which by then runs
// the new version, and removes coalmine's routes and mirror.
func (v *VirtualService) Promote(ctx context.Context) error { return v.allStable(ctx, "promote") }

// Reset puts all traffic on the stable destination and removes coalmine's
// segment routes and mirror.
func (v *VirtualService) Reset(ctx context.Context) error { return v.allStable(ctx, "reset") }

func (v *VirtualService) allStable(ctx context.Context, op string) error {
	return v.change(ctx, op, func(routes []any, i int) ([]any, error) {
		main := asMap(routes[i])
		v.setPair(main, i, 0)
		if v.ownMirror(main) {
			delete(main, "mirror")
			delete(main, "mirrorPercentage")
		}
		return dropOwned(routes), nil
	})
}

// Read reports the split of the plan's route, of each segment route and
// the mirror share.
func (v *VirtualService) Read(ctx context.Context) (api.TrafficState, error) {
	obj, err := v.res.get(ctx)
	if err != nil {
		return api.TrafficState{}, err
	}
	routes, i, err := v.routes(obj)
	if err != nil {
		return api.TrafficState{}, err
	}
	main := asMap(routes[i])
	s, c, err := v.pair(main, i)
	if err != nil {
		return api.TrafficState{}, err
	}
	st := api.TrafficState{CanaryWeight: share(vsWeight(s), vsWeight(c))}
	for j, r := range routes {
		route := asMap(r)
		seg := segmentOf(route)
		if seg == "" {
			continue
		}
		s, c, err := v.pair(route, j)
		if err != nil {
			return api.TrafficState{}, err
		}
		if st.SegmentWeights == nil {
			st.SegmentWeights = map[string]float64{}
		}
		st.SegmentWeights[seg] = share(vsWeight(s), vsWeight(c))
	}
	if v.ownMirror(main) {
		st.ShadowPercent = 100
		if p, ok := num(asMap(main["mirrorPercentage"])["value"]); ok {
			st.ShadowPercent = p
		}
	}
	return st, nil
}

// vsWeight is a destination's weight; Istio leaves it out for 0 when it
// has normalized the route.
func vsWeight(d map[string]any) int64 {
	w, _ := num(d["weight"])
	return int64(w)
}
