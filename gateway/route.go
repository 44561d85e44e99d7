package gateway

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// backend is a Backend ready to serve: its parsed URL and the metric series
// its traffic is recorded in.
type backend struct {
	Backend
	url    *url.URL
	role   string
	series *series // primary traffic
	shadow *series // mirrored traffic (canary only)
	price  Price
	// versionHdr and roleHdr are the values of the response headers,
	// allocated once; net/http only reads them.
	versionHdr, roleHdr []string
	// lastWarn is when a failure of this backend was last logged (Unix
	// ns); a pointer, so that copies for pinned requests share it.
	lastWarn *atomic.Int64
}

// warnNow reports whether a failure at now may be logged: at most one a
// second, so that an outage does not flood the log.
func (b *backend) warnNow(now time.Time) bool {
	last := b.lastWarn.Load()
	return now.UnixNano()-last >= int64(time.Second) && b.lastWarn.CompareAndSwap(last, now.UnixNano())
}

// route is one route compiled from its configuration and current state. A
// route value is immutable; a state change builds a new one, so the request
// path reads it without locks. Pins outlive state changes.
type route struct {
	name, host, salt, userHeader string
	sticky                       Sticky
	state                        RouteState
	stable, canary               *backend
	pins                         *pins
	needUser                     bool // some segment matches by user
}

// table is an immutable snapshot of every route.
type table struct {
	byName map[string]*route
	byHost map[string]*route
}

// match finds the route of a request and the path to forward.
func (t *table) match(r *http.Request, p string) (*route, string) {
	if len(p) > 1 && p[0] == '/' {
		name, rest, _ := strings.Cut(p[1:], "/")
		if rt, ok := t.byName[name]; ok && (rt.host == "" || strings.EqualFold(rt.host, hostOnly(r.Host))) {
			return rt, "/" + rest
		}
	}
	if len(t.byHost) > 0 {
		if rt, ok := t.byHost[strings.ToLower(hostOnly(r.Host))]; ok {
			return rt, p
		}
	}
	return nil, ""
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

// bodyUser returns the `user` field of a JSON request body, or "".
func bodyUser(body []byte) string {
	if len(body) == 0 || !bytes.Contains(body, userKey) {
		return ""
	}
	var b struct {
		User string `json:"user"`
	}
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	return b.User
}

var userKey = []byte(`"user"`)

// pick chooses the backend of a request: pinned version if live and still
// present, else the split of its segment (or the route default).
func (rt *route) pick(r *http.Request, body []byte, now time.Time) *backend {
	if rt.canary == nil {
		return rt.stable
	}
	userDone, user := false, ""
	getUser := func() string {
		if !userDone {
			userDone = true
			if user = r.Header.Get(rt.userHeader); user == "" {
				user = bodyUser(body)
			}
		}
		return user
	}
	key := ""
	for _, h := range rt.sticky.Headers {
		if v := r.Header.Get(h); v != "" {
			key = v
			break
		}
	}
	if key == "" && rt.sticky.UserField {
		key = bodyUser(body)
	}
	ttl := rt.sticky.PinTTL.D()
	pinning := key != "" && ttl > 0
	if pinning {
		if v, ok := rt.pins.lookup(key, now, ttl); ok {
			switch v {
			case rt.stable.Version:
				return rt.stable
			case rt.canary.Version:
				return rt.canary
			}
		}
	}
	weight := rt.state.CanaryWeightBP
	for i := range rt.state.Segments {
		s := &rt.state.Segments[i]
		if s.Header != nil && r.Header.Get(s.Header.Name) == s.Header.Value {
			weight = s.CanaryWeightBP
			break
		}
		if len(s.Users) > 0 && rt.needUser {
			if u := getUser(); u != "" && containsString(s.Users, u) {
				weight = s.CanaryWeightBP
				break
			}
		}
	}
	be := rt.stable
	if toCanary(rt.salt, key, weight) {
		be = rt.canary
	}
	if pinning {
		rt.pins.set(key, be.Version, now)
	}
	return be
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// hasCanaryTraffic reports whether any request can reach the canary.
func hasCanaryTraffic(st *RouteState) bool {
	if st.Canary == nil {
		return false
	}
	if st.CanaryWeightBP > 0 {
		return true
	}
	for _, s := range st.Segments {
		if s.CanaryWeightBP > 0 {
			return true
		}
	}
	return false
}
