// Package traffic holds coalmine's traffic routers, one file per router,
// and the registry that builds the router a plan names. Every router
// implements api.Router; Registry implements api.Routers.
//
// On the worker's side, adding a router is one new file with a Builder and
// one row in NewRegistry's table. The plan format describes the router's
// block in package plans: its type with a Check method in a file of its
// own, a field of plans.Traffic and a row in plans' router table; a test
// keeps the two tables the same list.
package traffic

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/coalmine-dev/coalmine/activities/api"
)

// Builder builds the router of one rollout from the activity input: the
// plan's traffic block, its segments and the target versions. Builders
// must not contact the router; they only check configuration, and wrap
// api.ErrInvalidConfig when it cannot work.
type Builder func(ctx context.Context, in api.TrafficInput, deps Deps) (api.Router, error)

// Deps are what builders may use.
type Deps struct {
	// HTTPClient talks to HTTP routers such as the gateway's admin API.
	HTTPClient *http.Client
	// Getenv reads secrets from the worker's environment at call time.
	Getenv func(string) string
	// Kube gives the Kubernetes clients of the httproute, virtualservice
	// and replicas routers; nil on a worker without cluster access.
	Kube KubeFactory
}

// Registry maps router names (plans.Traffic.Router) to builders.
type Registry struct {
	deps     Deps
	builders map[string]Builder
}

// NewRegistry returns a registry with every built-in router. Zero fields of
// deps take defaults: an HTTP client with a 30 s timeout and os.Getenv.
func NewRegistry(deps Deps) *Registry {
	if deps.HTTPClient == nil {
		deps.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if deps.Getenv == nil {
		deps.Getenv = os.Getenv
	}
	return &Registry{deps: deps, builders: map[string]Builder{
		NameGateway:        NewGateway,
		NameHTTPRoute:      NewHTTPRoute,
		NameVirtualService: NewVirtualService,
		NameReplicas:       NewReplicas,
	}}
}

// Register adds or replaces a builder.
func (r *Registry) Register(name string, b Builder) { r.builders[name] = b }

// Router builds the router the input's traffic block names. An unknown
// router name is an error wrapping api.ErrInvalidConfig; there is no
// fallback.
func (r *Registry) Router(ctx context.Context, in api.TrafficInput) (api.Router, error) {
	b, ok := r.builders[in.Traffic.Router]
	if !ok {
		names := make([]string, 0, len(r.builders))
		for n := range r.builders {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("unknown traffic router %q (this worker has %s): %w",
			in.Traffic.Router, strings.Join(names, ", "), api.ErrInvalidConfig)
	}
	return b(ctx, in, r.deps)
}
