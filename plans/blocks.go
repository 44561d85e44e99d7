package plans

import "github.com/invopop/jsonschema"

// A Block is the configuration block of one traffic router or one metric
// provider in a plan. Each block type checks its own fields, in a file of
// its own (router_*.go, provider_*.go); routerKinds and providerKinds are
// the one list of them that validation, KindOfProvider and the JSON
// Schema read.
type Block interface {
	// Check reports the block's problems through f; path is the block's
	// field path, e.g. spec.traffic.gateway or
	// spec.analysisTemplates.t.metrics[0].provider.prometheus.
	Check(f Fields, path string)
}

// A ProviderBlock is a metric provider's block: it also says what the
// provider's measurements carry.
type ProviderBlock interface {
	Block
	// Judges reports whether the provider gives its own verdicts (the
	// metric then needs no condition, compare or sequential test).
	Judges() bool
	// Counts reports whether the provider reads raw counts, as the
	// sequential test needs.
	Counts() bool
	// SampleSizes reports whether its measurements carry sample sizes, as
	// minSamples needs.
	SampleSizes() bool
}

// routerKinds is the one list of traffic routers: the name
// spec.traffic.router gives, the block of that name under spec.traffic
// (nil when absent), and the step kinds the router cannot carry out.
var routerKinds = []struct {
	name   string
	block  func(t *Traffic) Block
	cannot []string
}{
	{RouterGateway, func(t *Traffic) Block { return some(t.Gateway) }, nil},
	{RouterHTTPRoute, func(t *Traffic) Block { return some(t.HTTPRoute) }, nil},
	{RouterVirtualService, func(t *Traffic) Block { return some(t.VirtualService) }, nil},
	{RouterReplicas, func(t *Traffic) Block { return some(t.Replicas) }, []string{"setSegmentWeight", "shadow"}},
}

// providerKinds is the one list of metric providers: the kind, which is
// the key of its block under a metric's provider, and that block (nil
// when absent).
var providerKinds = []struct {
	kind  string
	block func(p *Provider) ProviderBlock
}{
	{"prometheus", func(p *Provider) ProviderBlock { return someProvider(p.Prometheus) }},
	{"web", func(p *Provider) ProviderBlock { return someProvider(p.Web) }},
	{"gateway", func(p *Provider) ProviderBlock { return someProvider(p.Gateway) }},
	{"sentinel", func(p *Provider) ProviderBlock { return someProvider(p.Sentinel) }},
	{"judge", func(p *Provider) ProviderBlock { return someProvider(p.Judge) }},
}

// some returns b as a Block, or nil when b is a nil pointer.
func some[T any, P interface {
	*T
	Block
}](b P) Block {
	if b == nil {
		return nil
	}
	return b
}

// someProvider returns b as a ProviderBlock, or nil when b is a nil pointer.
func someProvider[T any, P interface {
	*T
	ProviderBlock
}](b P) ProviderBlock {
	if b == nil {
		return nil
	}
	return b
}

// Routers lists the traffic routers a plan may name, in the order of routerKinds.
func Routers() []string {
	out := make([]string, len(routerKinds))
	for i, r := range routerKinds {
		out[i] = r.name
	}
	return out
}

// ProviderKinds lists the metric provider kinds a plan may use, in the
// order of providerKinds.
func ProviderKinds() []string {
	out := make([]string, len(providerKinds))
	for i, p := range providerKinds {
		out[i] = p.kind
	}
	return out
}

// KindOfProvider names the provider a metric uses: prometheus, web,
// gateway, sentinel or judge; "" when none is set.
func KindOfProvider(p Provider) string {
	kind, _ := providerBlock(&p)
	return kind
}

// providerBlock returns the first block a provider section sets, and its kind.
func providerBlock(p *Provider) (string, ProviderBlock) {
	for _, k := range providerKinds {
		if b := k.block(p); b != nil {
			return k.kind, b
		}
	}
	return "", nil
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
