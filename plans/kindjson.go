package plans

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
)

// This file holds what the provider and router blocks' encoding shares:
// a block written under its kind, and the fields the loader and the schema
// see for each registered kind.

// object writes a JSON object's members in the order they are added.
type object struct {
	b   bytes.Buffer
	err error
}

// add writes key: v.
func (o *object) add(key string, v any) {
	if o.err != nil {
		return
	}
	val, err := json.Marshal(v)
	if err != nil {
		o.err = fmt.Errorf("encode %s: %w", key, err)
		return
	}
	if o.b.Len() == 0 {
		o.b.WriteByte('{')
	} else {
		o.b.WriteByte(',')
	}
	k, _ := json.Marshal(key)
	o.b.Write(k)
	o.b.WriteByte(':')
	o.b.Write(val)
}

// bytes returns the object, or the first error of add.
func (o *object) bytes() ([]byte, error) {
	if o.err != nil {
		return nil, o.err
	}
	if o.b.Len() == 0 {
		return []byte("{}"), nil
	}
	o.b.WriteByte('}')
	return o.b.Bytes(), nil
}

// isNull reports whether raw is JSON null.
func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// kindField is the struct field a registered kind stands for: web → field
// Web of the block's type, with the JSON name web.
func kindField(kind string, t reflect.Type) reflect.StructField {
	return reflect.StructField{Name: fieldName(kind), Type: t, Tag: reflect.StructTag(fmt.Sprintf(`json:"%s,omitempty"`, kind))}
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

// blockFields returns the fields the loader and the schema see for a type
// whose fields are registered kinds (Provider, Traffic); ok is false for
// every other type.
func blockFields(t reflect.Type) (fields []reflect.StructField, ok bool) {
	switch t {
	case providerGoType:
		return providerFields(), true
	case trafficGoType:
		return trafficFields(), true
	}
	return nil, false
}

// kindDoc returns the registered doc of the kind that field of t (Provider
// or Traffic) stands for.
func kindDoc(t reflect.Type, field string) string {
	switch t {
	case providerGoType:
		for _, kind := range ProviderKinds() {
			if pt, _ := providerType(kind); fieldName(kind) == field {
				return pt.Doc
			}
		}
	case trafficGoType:
		for _, kind := range Routers() {
			if rt, _ := routerType(kind); fieldName(kind) == field {
				return rt.Doc
			}
		}
	}
	return ""
}
