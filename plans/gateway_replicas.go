package plans

import (
	"fmt"
	"strings"
	"time"
)

// Check checks how a gateway fleet's replicas are found, for the gateway
// router's Check: exactly one of service, dns and urls. A nil block is
// fine.
func (r *GatewayReplicas) Check(f Fields, path string) {
	c := f.c
	if r == nil {
		return
	}
	set := 0
	for _, b := range []bool{r.Service != nil, r.DNS != "", len(r.URLs) > 0} {
		if b {
			set++
		}
	}
	if set != 1 {
		c.errorf(path, "give one of service: {name: coalmine-gateway-admin}, dns: coalmine-gateway-admin-headless.coalmine.svc, urls: [...]",
			"give exactly one way to find the replicas, not %d", set)
		return
	}
	if s := r.Service; s != nil {
		c.need(path+".service", "name", s.Name, "name: coalmine-gateway-admin")
	}
	if r.DNS != "" && (strings.ContainsAny(r.DNS, "/: ") || strings.Contains(r.DNS, "{{")) {
		c.errorf(path+".dns", "write a host name only; the scheme and port are taken from spec.traffic.gateway.url", "%q is not a host name", r.DNS)
	}
	for i, u := range r.URLs {
		c.url(fmt.Sprintf("%s.urls[%d]", path, i), "urls", u, "urls: http://10.0.0.7:8480")
	}
	if r.ConfirmTimeout.Duration < 0 {
		c.errorf(path+".confirmTimeout", "write a positive duration such as 30s", "confirmTimeout must not be negative")
	}
}

// Defaults of traffic.gateway.replicas.
const (
	DefaultGatewayAdminPort      = "admin"
	DefaultGatewayConfirmTimeout = 30 * time.Second
)

// ApplyDefaults fills in the defaults of a fleet's replicas block, for the
// gateway router's ApplyDefaults; ns is the workload's namespace. A nil
// block is left alone.
func (r *GatewayReplicas) ApplyDefaults(ns string) {
	if r == nil {
		return
	}
	setDuration(&r.ConfirmTimeout, DefaultGatewayConfirmTimeout)
	if s := r.Service; s != nil {
		setString(&s.Namespace, ns)
		setString(&s.Port, DefaultGatewayAdminPort)
	}
}
