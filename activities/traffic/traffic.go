// Package traffic holds coalmine's traffic routers, one file per router,
// and the registry that builds the router a plan names. Every router
// implements api.Router; Registry implements api.Routers.
//
// Adding a router is one new file and one row in the routers table: the
// file holds the router's plan block (its config type, implementing
// plans.RouterBlock: name, field checks with paths, defaults) beside its
// Builder and the api.Router it builds; the row registers the block with
// plans and names the Builder.
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
	"github.com/coalmine-dev/coalmine/plans"
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
	r := &Registry{deps: deps, builders: map[string]Builder{}}
	for _, row := range routers {
		r.builders[row.block().Kind()] = row.build
	}
	return r
}

// routers is the one table of traffic routers. A row is a router: its plan
// block (registered with plans, which decodes, checks, fills in and
// documents it through plans.RouterBlock), a sentence on what the block
// configures for the schema and the plan reference, and its Builder. The
// block type and the Builder live in the router's own file.
var routers = registerRouters(
	router{func() plans.RouterBlock { return new(GatewayTraffic) }, "Gateway configures coalmine's built-in LLM gateway.", NewGateway},
	router{func() plans.RouterBlock { return new(HTTPRouteTraffic) }, "HTTPRoute configures a Gateway API HTTPRoute.", NewHTTPRoute},
	router{func() plans.RouterBlock { return new(VirtualServiceTraffic) }, "VirtualService configures an Istio VirtualService.", NewVirtualService},
	router{func() plans.RouterBlock { return new(ReplicasTraffic) }, "Replicas splits traffic by the replica counts of two Deployments\nbehind one Service.", NewReplicas},
)

// A router is a row of the routers table.
type router struct {
	// block returns an empty plan block of the router; its Kind is the
	// router's name.
	block func() plans.RouterBlock
	// doc says in a sentence what the block configures.
	doc string
	// build builds the router of one rollout.
	build Builder
}

// registerRouters makes the rows' blocks known to plans and returns the rows.
func registerRouters(rows ...router) []router {
	for _, r := range rows {
		plans.RegisterRouter(plans.RouterType{New: r.block, Doc: r.doc})
	}
	return rows
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
