package gateway

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// handlePinned proxies a request to the named version of a route. It is an
// admin endpoint (bearer token required), because it bypasses the split: a
// metric provider uses it to ask a version directly through the gateway.
// The request gets the same limits, streaming and accounting as traffic,
// under RoleSentinel.
func (g *Gateway) handlePinned(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name, version := r.PathValue("name"), r.PathValue("version")
	rt, ok := g.table.Load().byName[name]
	if !ok {
		writeError(w, http.StatusNotFound, "", "unknown route "+strconv.Quote(name))
		return
	}
	var target *backend
	for _, be := range []*backend{rt.stable, rt.canary} {
		if be != nil && be.Version == version {
			target = be
		}
	}
	if target == nil {
		writeError(w, http.StatusNotFound, "", "route "+name+" has no version "+strconv.Quote(version))
		return
	}
	path, ok := pinnedTail(r.URL.EscapedPath())
	if !ok {
		writeError(w, http.StatusBadRequest, "path", "the path after the version must not contain . or .. segments (in any spelling, %2e included)")
		return
	}
	body, status := g.readBody(w, r)
	if status != 0 {
		refuseBody(w, status, "cannot read request body")
		return
	}
	be := *target
	be.role, be.roleHdr = RoleSentinel, []string{RoleSentinel}
	be.series = g.reg.get(name, version, RoleSentinel)
	w.Header()[HeaderRole] = be.roleHdr
	r.Header.Del("Authorization") // the admin token is for the gateway, never for the version
	g.forward(w, r, &be, path, body, start, be.series.record)
}

// pinnedTail returns the escaped path after /admin/v1/routes/{route}/
// versions/{version}, and false when one of its segments is a dot-segment
// once decoded: the mux has removed literal ones, and a "%2e%2e" that the
// backend decodes would climb out of the version's base path.
func pinnedTail(escaped string) (string, bool) {
	segs := strings.Split(escaped, "/") // "", admin, v1, routes, {route}, versions, {version}, ...
	if len(segs) < 7 {
		return "/", true
	}
	for _, seg := range segs[7:] {
		if d, err := url.PathUnescape(seg); err != nil || d == "." || d == ".." {
			return "", false
		}
	}
	return "/" + strings.Join(segs[7:], "/"), true
}
