package plans

import "github.com/invopop/jsonschema"

// A Block is the configuration block of one traffic router or one metric
// provider in a plan. Each block type checks its own fields, in a file of
// its own, beside the router's or provider's implementation, and is
// registered with RegisterRouter or RegisterProvider. Validation, the
// loader and the JSON Schema read those registrations.
type Block interface {
	// Check reports the block's problems through f; path is the block's
	// field path, e.g. spec.traffic.gateway or
	// spec.analysisTemplates.t.metrics[0].provider.prometheus.
	Check(f Fields, path string)
}

// A ProviderBlock is a metric provider's block. Each provider's block
// type lives beside the provider, in the provider's own file, and is
// registered with RegisterProvider; plans decodes, checks and fills in a
// metric's provider through this interface only.
type ProviderBlock interface {
	Block
	// Kind is the provider's kind: the key its block is written under in a
	// metric's provider, e.g. web.
	Kind() string
	// Judges reports whether the provider gives its own verdicts (the
	// metric then needs no condition, compare or sequential test).
	Judges() bool
	// Counts reports whether the provider reads raw counts, as the
	// sequential test needs.
	Counts() bool
	// SampleSizes reports whether its measurements carry sample sizes, as
	// minSamples needs.
	SampleSizes() bool
	// JudgedWithConfidence reports whether `compare: {method: confidence}`
	// decides the compare limit named limit (LimitMaxRelativeIncrease, …)
	// with confidence; otherwise it is judged on point estimates.
	JudgedWithConfidence(limit string) bool
	// ApplyDefaults fills in the block's defaults; s is the plan's spec,
	// for defaults taken from other blocks (the gateway router's URL).
	ApplyDefaults(s *Spec)
}

// JSONSchemaExtend lists the routers of routerKinds as spec.traffic.router's values.
func (Traffic) JSONSchemaExtend(s *jsonschema.Schema) {
	if r, ok := s.Properties.Get("router"); ok {
		r.Enum = nil
		for _, name := range Routers() {
			r.Enum = append(r.Enum, name)
		}
	}
}
