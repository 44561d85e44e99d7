package plans

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Provider is the source of a metric's numbers. Exactly one field is set.
//
// In a plan it is a mapping from the provider's kind to its block, e.g.
// {web: {url: …, jsonPath: …}}. The block types are not plans': each
// provider registers its own (RegisterProvider), so Block holds the
// decoded block of a registered kind. A kind this process has not
// registered is kept as it was written, so that a plan passes through a
// program that does not link the providers unchanged; validation reports
// it.
type Provider struct {
	// Block is the provider's block; its Kind is the key it is written under.
	Block ProviderBlock `json:"-"`
	// others holds every other key of the mapping as written: kinds this
	// process has not registered, and the second and later blocks of a
	// provider that names more than one.
	others map[string]json.RawMessage
}

// A ProviderType is a registered metric provider's block type.
type ProviderType = BlockType[ProviderBlock]

// providerTypes holds the registered provider types.
var providerTypes kinds[ProviderBlock]

// RegisterProvider makes a provider's block known to plans under
// t.New().Kind(): plans decode it, validate it with its Check and list it
// in the schema. The providers' table registers every provider when its
// package is initialized, as database/sql drivers do. Registering a kind
// twice, or a type without New, is a programming error and panics.
func RegisterProvider(t ProviderType) { providerTypes.register("provider", t) }

// providerType returns the registered type of kind.
func providerType(kind string) (ProviderType, bool) { return providerTypes.get(kind) }

// ProviderKinds lists the metric provider kinds a plan may use, in the
// order they were registered.
func ProviderKinds() []string { return providerTypes.list() }

// Kind names the provider a metric uses ("" when none is set). A provider
// of a kind this process has not registered is named by its key.
func (p Provider) Kind() string {
	if p.Block != nil {
		return p.Block.Kind()
	}
	if keys := p.otherKinds(); len(keys) > 0 {
		return keys[0]
	}
	return ""
}

// otherKinds lists the keys kept as written, sorted.
func (p Provider) otherKinds() []string { return sortedKeys(p.others) }

// KindOfProvider names the provider a metric uses; "" when none is set.
func KindOfProvider(p Provider) string { return p.Kind() }

// MarshalJSON writes the provider as {kind: block}, with the keys kept
// as written after it.
func (p Provider) MarshalJSON() ([]byte, error) {
	var o object
	if p.Block != nil {
		o.add(p.Block.Kind(), p.Block)
	}
	for _, k := range p.otherKinds() {
		o.add(k, p.others[k])
	}
	return o.bytes()
}

// UnmarshalJSON reads {kind: block}: the first registered kind (in
// registration order) into Block, every other key as written.
func (p *Provider) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("decode provider: %w", err)
	}
	*p = Provider{}
	for _, kind := range ProviderKinds() {
		raw, ok := m[kind]
		if !ok || p.Block != nil {
			continue
		}
		delete(m, kind)
		if isNull(raw) {
			continue
		}
		t, _ := providerType(kind)
		b := t.New()
		if err := json.Unmarshal(raw, b); err != nil {
			return fmt.Errorf("decode %s provider: %w", kind, err)
		}
		p.Block = b
	}
	for k, raw := range m {
		if isNull(raw) {
			continue
		}
		if p.others == nil {
			p.others = map[string]json.RawMessage{}
		}
		p.others[k] = raw
	}
	return nil
}

// providerFields describes the registered kinds as the fields of a
// struct, for the YAML loader and the schema: field Web of type
// *WebProvider with the JSON name web, and so on.
func providerFields() []reflect.StructField {
	kinds := ProviderKinds()
	out := make([]reflect.StructField, 0, len(kinds))
	for _, kind := range kinds {
		t, _ := providerType(kind)
		out = append(out, kindField(kind, reflect.TypeOf(t.New())))
	}
	return out
}

var providerGoType = reflect.TypeFor[Provider]()
