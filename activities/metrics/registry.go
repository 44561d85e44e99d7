package metrics

import (
	"k8s.io/client-go/kubernetes"

	"github.com/coalmine-dev/coalmine/gateway/fleet"

	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// Options are the dependencies the providers share. The zero value works:
// a default HTTP client, the process environment and a discarding logger.
type Options struct {
	// HTTPClient makes every call; each provider bounds a call with the
	// metric's own timeout. Nil uses a client without a global timeout.
	HTTPClient *http.Client
	// Getenv reads the environment variables a plan names for tokens and
	// headers; nil uses os.Getenv. Tests pass a map lookup.
	Getenv func(string) string
	// Logger receives debug records of each call, never secrets.
	Logger *slog.Logger
	// Now stamps measurements; nil uses time.Now.
	Now func() time.Time
	// JudgePrompts are the prompts the judge provider sends to both versions
	// to get paired answers; nil uses a small built-in set.
	JudgePrompts []string
	// Kube reads the EndpointSlices of a gateway fleet's admin Service
	// (traffic.gateway.replicas.service); nil on a worker without a cluster.
	Kube func() (kubernetes.Interface, error)
}

// deps is Options with the defaults filled in.
type deps struct {
	hc     *http.Client
	getenv func(string) string
	log    *slog.Logger
	now    func() time.Time
	fleet  fleet.Finder
}

func (o Options) deps() deps {
	d := deps{hc: o.HTTPClient, getenv: o.Getenv, log: o.Logger, now: o.Now, fleet: fleet.Finder{Kube: o.Kube}}
	if d.hc == nil {
		d.hc = &http.Client{}
	}
	if d.getenv == nil {
		d.getenv = os.Getenv
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// providers is the one table of metric providers. A row is a provider:
// its plan block (registered with plans, which decodes, checks, fills in
// and documents it through plans.ProviderBlock), a sentence on what it
// does for the schema and the plan reference, and its constructor. The
// block type and the constructor live in the provider's own file, so a
// new provider is that file and a row here.
var providers = register(
	provider{func() plans.ProviderBlock { return new(PrometheusProvider) }, "Prometheus runs a PromQL instant query.",
		func(o Options) api.Provider { return NewPrometheus(o) }},
	provider{func() plans.ProviderBlock { return new(WebProvider) }, "Web calls an HTTP endpoint (an eval harness) and picks a number from its JSON answer.",
		func(o Options) api.Provider { return NewWeb(o) }},
	provider{func() plans.ProviderBlock { return new(GatewayProvider) }, "Gateway reads a statistic from coalmine's built-in gateway.",
		func(o Options) api.Provider { return NewGateway(o) }},
	provider{func() plans.ProviderBlock { return new(SentinelProvider) }, "Sentinel sends known-answer prompts to the canary and checks the answers.",
		func(o Options) api.Provider { return NewSentinel(o) }},
	provider{func() plans.ProviderBlock { return new(JudgeProvider) }, "Judge asks an LLM to compare paired stable and canary answers.",
		func(o Options) api.Provider { return NewJudge(o) }},
)

// A provider is a row of the providers table.
type provider struct {
	// block returns an empty plan block of the provider; its Kind is the
	// provider's kind.
	block func() plans.ProviderBlock
	// doc says in a sentence what the provider does.
	doc string
	// new builds the provider.
	new func(Options) api.Provider
}

// register makes the rows' blocks known to plans and returns the rows.
func register(rows ...provider) []provider {
	for _, r := range rows {
		plans.RegisterProvider(plans.ProviderType{New: r.block, Doc: r.doc})
	}
	return rows
}

// NewRegistry returns a registry with every provider of the table:
// prometheus, web, gateway, sentinel and judge.
func NewRegistry(opts Options) Registry {
	r := make(Registry, len(providers))
	for _, p := range providers {
		r[p.block().Kind()] = p.new(opts)
	}
	return r
}
