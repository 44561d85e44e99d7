package metrics

import (
	"k8s.io/client-go/kubernetes"

	"github.com/coalmine-dev/coalmine/gateway/fleet"

	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
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

// providers is the one table of metric providers: the kind a plan's
// provider block names (plans.ProviderKinds lists the same kinds) and the
// provider's constructor, which lives in the provider's own file.
var providers = []struct {
	kind string
	new  func(Options) api.Provider
}{
	{KindPrometheus, func(o Options) api.Provider { return NewPrometheus(o) }},
	{KindWeb, func(o Options) api.Provider { return NewWeb(o) }},
	{KindGateway, func(o Options) api.Provider { return NewGateway(o) }},
	{KindSentinel, func(o Options) api.Provider { return NewSentinel(o) }},
	{KindJudge, func(o Options) api.Provider { return NewJudge(o) }},
}

// NewRegistry returns a registry with every provider of the table:
// prometheus, web, gateway, sentinel and judge.
func NewRegistry(opts Options) Registry {
	r := make(Registry, len(providers))
	for _, p := range providers {
		r[p.kind] = p.new(opts)
	}
	return r
}
