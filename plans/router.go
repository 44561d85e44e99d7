package plans

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// A RouterBlock is a traffic router's block under spec.traffic. Each
// router's block type lives beside the router, in the router's own file,
// and is registered with RegisterRouter; plans decodes, checks and fills in
// a plan's traffic block through this interface only.
type RouterBlock interface {
	Block
	// Kind is the router's name: spec.traffic.router's value and the key
	// of its block under spec.traffic, e.g. gateway.
	Kind() string
	// Cannot lists the step kinds the router cannot carry out, e.g.
	// setSegmentWeight and shadow.
	Cannot() []string
	// ApplyDefaults fills in the block's defaults; s is the plan's spec,
	// for defaults taken from other blocks (spec.app, the workload's
	// namespace).
	ApplyDefaults(s *Spec)
	// WhatToCheck says what a person should check when the router could
	// not be reached or restored, e.g. "the HTTPRoute voice-agent and the
	// worker's Kubernetes access to it".
	WhatToCheck() string
}

// A RouterType is a registered traffic router's block type.
type RouterType = BlockType[RouterBlock]

// routerTypes holds the registered router types.
var routerTypes kinds[RouterBlock]

// RegisterRouter makes a router's block known to plans under
// t.New().Kind(), as RegisterProvider does for metric providers. The
// routers' table registers every router when its package is initialized.
// Registering a name twice, or a type without New, is a programming error
// and panics.
func RegisterRouter(t RouterType) { routerTypes.register("router", t) }

// routerType returns the registered type of the router named kind.
func routerType(kind string) (RouterType, bool) { return routerTypes.get(kind) }

// Routers lists the traffic routers a plan may name, in the order they
// were registered.
func Routers() []string { return routerTypes.list() }

// Supports reports whether a router can carry out a kind of step; a router
// this process has not registered is taken to.
func Supports(router, stepKind string) bool {
	t, ok := routerType(router)
	return !ok || !slices.Contains(t.New().Cannot(), stepKind)
}

// otherKinds lists the blocks kept as written, sorted.
func (t Traffic) otherKinds() []string { return sortedKeys(t.others) }

// MarshalJSON writes the traffic block as {router, <router>: block,
// verifyInterval}, with the blocks kept as written after the router's.
func (t Traffic) MarshalJSON() ([]byte, error) {
	var o object
	o.add("router", t.Router)
	if t.Block != nil {
		o.add(t.Block.Kind(), t.Block)
	}
	for _, k := range t.otherKinds() {
		o.add(k, t.others[k])
	}
	if t.VerifyInterval != nil {
		o.add("verifyInterval", t.VerifyInterval)
	}
	return o.bytes()
}

// UnmarshalJSON reads the traffic block: the block of the router that
// router names into Block when that router is registered, every other
// block as written.
func (t *Traffic) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("decode traffic: %w", err)
	}
	*t = Traffic{}
	if raw, ok := m["router"]; ok {
		delete(m, "router")
		if err := json.Unmarshal(raw, &t.Router); err != nil {
			return fmt.Errorf("decode traffic router: %w", err)
		}
	}
	if raw, ok := m["verifyInterval"]; ok {
		delete(m, "verifyInterval")
		if err := json.Unmarshal(raw, &t.VerifyInterval); err != nil {
			return fmt.Errorf("decode traffic verifyInterval: %w", err)
		}
	}
	for k, raw := range m {
		if isNull(raw) {
			continue
		}
		if rt, ok := routerType(k); ok && k == t.Router {
			b := rt.New()
			if err := json.Unmarshal(raw, b); err != nil {
				return fmt.Errorf("decode %s router: %w", k, err)
			}
			t.Block = b
			continue
		}
		if t.others == nil {
			t.others = map[string]json.RawMessage{}
		}
		t.others[k] = raw
	}
	return nil
}

var trafficGoType = reflect.TypeFor[Traffic]()

// trafficFields describes the traffic block as struct fields, for the YAML
// loader and the schema: router, a field per registered router of its
// block's type, and verifyInterval.
func trafficFields() []reflect.StructField {
	router, _ := trafficGoType.FieldByName("Router")
	router.Tag = `json:"router"`
	verify, _ := trafficGoType.FieldByName("VerifyInterval")
	verify.Tag = `json:"verifyInterval,omitempty"`
	out := []reflect.StructField{router}
	for _, kind := range Routers() {
		t, _ := routerType(kind)
		out = append(out, kindField(kind, reflect.TypeOf(t.New())))
	}
	return append(out, verify)
}
