// Package fleet finds the replicas of a gateway fleet that a plan's
// traffic.gateway.replicas names: from the admin Service's EndpointSlices,
// from a DNS name that resolves to every replica, or from a list of URLs.
// The gateway router confirms every change on each replica it finds and the
// gateway metric provider sums their counts.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/coalmine-dev/coalmine/plans"
)

// ErrNoCluster is returned when the replicas are to be found from a
// Service but the worker has no Kubernetes client.
var ErrNoCluster = errors.New("no Kubernetes cluster to read the gateway's EndpointSlices from")

// ErrNoReplicas is returned when a lookup finds no replica at all.
var ErrNoReplicas = errors.New("no gateway replica found")

// Finder finds replicas.
type Finder struct {
	// Kube returns the client that reads EndpointSlices; nil when the worker
	// has no cluster.
	Kube func() (kubernetes.Interface, error)
	// Resolver looks up DNS names; nil uses net.DefaultResolver.
	Resolver *net.Resolver
}

// Find returns the admin URLs of every ready replica, sorted. primary is
// traffic.gateway.url; without a replicas block it is the only replica, and
// with dns its scheme and port are every replica's.
func (f Finder) Find(ctx context.Context, primary string, r *plans.GatewayReplicas) ([]string, error) {
	var (
		urls []string
		err  error
	)
	switch {
	case r == nil:
		return []string{primary}, nil
	case len(r.URLs) > 0:
		urls = slices.Clone(r.URLs)
	case r.DNS != "":
		urls, err = f.fromDNS(ctx, primary, r.DNS)
	case r.Service != nil:
		urls, err = f.fromService(ctx, primary, r.Service)
	default:
		return nil, fmt.Errorf("traffic.gateway.replicas names no service, dns or urls: %w", ErrNoReplicas)
	}
	if err != nil {
		return nil, err
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("%s: %w", describe(r), ErrNoReplicas)
	}
	slices.Sort(urls)
	return slices.Compact(urls), nil
}

// describe names where the replicas were looked for.
func describe(r *plans.GatewayReplicas) string {
	switch {
	case r.DNS != "":
		return "DNS name " + r.DNS
	case r.Service != nil:
		return fmt.Sprintf("ready endpoints of Service %s/%s", r.Service.Namespace, r.Service.Name)
	}
	return "traffic.gateway.replicas.urls"
}

// fromDNS resolves name and gives each address primary's scheme and port.
func (f Finder) fromDNS(ctx context.Context, primary, name string) ([]string, error) {
	u, err := url.Parse(primary)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("traffic.gateway.url %q is not a URL to take the replicas' scheme and port from", primary)
	}
	res := f.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	addrs, err := res.LookupHost(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("look up the gateway replicas at DNS name %s: %w", name, err)
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, withHost(u, net.JoinHostPort(a, u.Port())))
	}
	return out, nil
}

// fromService lists the Service's EndpointSlices and keeps the ready
// endpoints' addresses on the named port. An endpoint whose ready condition
// is unknown counts as ready, as kube-proxy treats it.
func (f Finder) fromService(ctx context.Context, primary string, s *plans.GatewayService) ([]string, error) {
	if f.Kube == nil {
		return nil, ErrNoCluster
	}
	kube, err := f.Kube()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoCluster, err)
	}
	scheme := "http"
	if u, err := url.Parse(primary); err == nil && u.Scheme != "" {
		scheme = u.Scheme
	}
	list, err := kube.DiscoveryV1().EndpointSlices(s.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + s.Name,
	})
	if err != nil {
		return nil, fmt.Errorf("list the EndpointSlices of Service %s/%s: %w", s.Namespace, s.Name, err)
	}
	var out []string
	for _, es := range list.Items {
		port := portOf(es.Ports, s.Port)
		if port == 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				out = append(out, (&url.URL{Scheme: scheme, Host: net.JoinHostPort(a, fmt.Sprint(port))}).String())
			}
		}
	}
	return out, nil
}

// portOf is the number of the named port of a slice; 0 when it has none.
func portOf(ports []discoveryv1.EndpointPort, name string) int32 {
	for _, p := range ports {
		if p.Name != nil && *p.Name == name && p.Port != nil {
			return *p.Port
		}
	}
	return 0
}

// withHost is u with another host (and no path beyond u's).
func withHost(u *url.URL, host string) string {
	c := *u
	c.Host = host
	return c.String()
}
