package plans

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
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

// NewProvider returns the provider section that holds block.
func NewProvider(block ProviderBlock) Provider { return Provider{Block: block} }

// A ProviderType is one registered metric provider as plans sees it.
type ProviderType struct {
	// New returns an empty block of the provider, to decode one into.
	New func() ProviderBlock
	// Doc says in a sentence what the provider does; it describes the
	// provider's field in the JSON Schema and the plan reference.
	Doc string
}

// registry holds the registered provider types in registration order,
// which is the order of ProviderKinds, the schema and the reference.
var registry struct {
	sync.RWMutex
	kinds []string
	types map[string]ProviderType
}

// RegisterProvider makes a provider's block known to plans under
// t.New().Kind(): plans decode it, validate it with its Check and list it
// in the schema. The providers' table registers every provider when its
// package is initialized, as database/sql drivers do. Registering a kind
// twice, or a type without New, is a programming error and panics.
func RegisterProvider(t ProviderType) {
	if t.New == nil {
		panic("plans: RegisterProvider without New")
	}
	kind := t.New().Kind()
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.types[kind]; dup || kind == "" {
		panic(fmt.Sprintf("plans: provider kind %q registered twice or empty", kind))
	}
	if registry.types == nil {
		registry.types = map[string]ProviderType{}
	}
	registry.kinds = append(registry.kinds, kind)
	registry.types[kind] = t
}

// providerType returns the registered type of kind.
func providerType(kind string) (ProviderType, bool) {
	registry.RLock()
	defer registry.RUnlock()
	t, ok := registry.types[kind]
	return t, ok
}

// ProviderKinds lists the metric provider kinds a plan may use, in the
// order they were registered.
func ProviderKinds() []string {
	registry.RLock()
	defer registry.RUnlock()
	return slices.Clone(registry.kinds)
}

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
func (p Provider) otherKinds() []string {
	keys := make([]string, 0, len(p.others))
	for k := range p.others {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// KindOfProvider names the provider a metric uses; "" when none is set.
func KindOfProvider(p Provider) string { return p.Kind() }

// MarshalJSON writes the provider as {kind: block}, with the keys kept
// as written after it.
func (p Provider) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	write := func(kind string, v any) error {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kind)
		val, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s provider: %w", kind, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(val)
		return nil
	}
	if p.Block != nil {
		if err := write(p.Block.Kind(), p.Block); err != nil {
			return nil, err
		}
	}
	for _, k := range p.otherKinds() {
		if err := write(k, p.others[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
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
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
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
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
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
		out = append(out, reflect.StructField{
			Name: fieldName(kind),
			Type: reflect.TypeOf(t.New()),
			Tag:  reflect.StructTag(fmt.Sprintf(`json:"%s,omitempty"`, kind)),
		})
	}
	return out
}

// fieldName is kind as an exported Go field name: web → Web.
func fieldName(kind string) string {
	if kind == "" {
		return ""
	}
	b := []byte(kind)
	if 'a' <= b[0] && b[0] <= 'z' {
		b[0] -= 'a' - 'A'
	}
	return string(b)
}

var providerGoType = reflect.TypeFor[Provider]()
