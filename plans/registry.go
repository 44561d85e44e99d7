package plans

import (
	"fmt"
	"slices"
	"sync"
)

// A BlockType is a registered block type of a metric provider or a
// traffic router, as plans sees it.
type BlockType[B interface{ Kind() string }] struct {
	// New returns an empty block, to decode one into; its Kind is the key
	// the block is written under.
	New func() B
	// Doc says in a sentence what the provider does or what the router's
	// block configures; it describes the block's field in the JSON Schema
	// and the plan reference.
	Doc string
}

// A kinds registry holds the block types of one family (metric providers
// or traffic routers) by kind, in registration order: the order of the
// lists, the schema and the reference.
type kinds[B interface{ Kind() string }] struct {
	mu    sync.RWMutex
	order []string
	types map[string]BlockType[B]
}

// register adds t under t.New().Kind(). A type without New, or a kind
// given twice or empty, is a programming error and panics, as
// database/sql's Register does.
func (r *kinds[B]) register(family string, t BlockType[B]) {
	if t.New == nil {
		panic(fmt.Sprintf("plans: a %s registered without New", family))
	}
	kind := t.New().Kind()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.types[kind]; dup || kind == "" {
		panic(fmt.Sprintf("plans: %s kind %q registered twice or empty", family, kind))
	}
	if r.types == nil {
		r.types = map[string]BlockType[B]{}
	}
	r.order = append(r.order, kind)
	r.types[kind] = t
}

// get returns the type registered under kind.
func (r *kinds[B]) get(kind string) (BlockType[B], bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[kind]
	return t, ok
}

// list returns the registered kinds in registration order.
func (r *kinds[B]) list() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.order)
}

// swap replaces the registry's content and returns the old one (tests
// that run as a program without providers).
func (r *kinds[B]) swap(order []string, types map[string]BlockType[B]) ([]string, map[string]BlockType[B]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	oldOrder, oldTypes := r.order, r.types
	r.order, r.types = order, types
	return oldOrder, oldTypes
}
