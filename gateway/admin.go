package gateway

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// maxAdminBody bounds an admin request body.
const maxAdminBody = 64 << 10

// requireToken wraps h with bearer-token authentication using a
// constant-time comparison.
func (g *Gateway) requireToken(h http.HandlerFunc) http.HandlerFunc {
	want := []byte(g.token)
	return func(w http.ResponseWriter, r *http.Request) {
		// The scheme is case-insensitive (RFC 9110, section 11.1).
		scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimLeft(cred, " ")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="coalmine-gateway"`)
			writeError(w, http.StatusUnauthorized, "", "a valid bearer token is required")
			return
		}
		h(w, r)
	}
}

func (g *Gateway) handleListRoutes(w http.ResponseWriter, _ *http.Request) {
	g.mu.Lock()
	list := RouteList{Routes: make([]RouteState, 0, len(g.states))}
	for _, st := range g.states {
		list.Routes = append(list.Routes, st)
	}
	g.mu.Unlock()
	sort.Slice(list.Routes, func(i, j int) bool { return list.Routes[i].Name < list.Routes[j].Name })
	writeJSON(w, http.StatusOK, list)
}

func (g *Gateway) handleGetRoute(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	g.mu.Lock()
	st, ok := g.states[name]
	g.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "", fmt.Sprintf("unknown route %q", name))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (g *Gateway) handlePutRoute(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var upd RouteUpdate
	if status, fe := decodeStrict(w, r, &upd); status != 0 {
		writeError(w, status, fe.Field, fe.Error)
		return
	}
	if upd.IfGeneration == nil {
		writeError(w, http.StatusBadRequest, "ifGeneration", "ifGeneration is required")
		return
	}
	st, status, fe := g.Update(name, upd)
	if status != http.StatusOK {
		writeError(w, status, fe.Field, fe.Error)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// Update applies a route update as the admin API does and returns the
// resulting state with the HTTP status of the outcome (200, 400, 404, 409 or
// 500) and, when refused, the reason.
func (g *Gateway) Update(name string, upd RouteUpdate) (RouteState, int, *ErrorBody) {
	if g.kube != nil {
		if !g.kube.loaded.Load() {
			return RouteState{}, http.StatusServiceUnavailable, &ErrorBody{Error: "the gateway has not loaded the shared route state yet (" + g.kube.where() + ")"}
		}
		return g.kube.update(name, upd)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	cur, ok := g.states[name]
	if !ok {
		return RouteState{}, http.StatusNotFound, &ErrorBody{Error: fmt.Sprintf("unknown route %q", name)}
	}
	next, status, fe, changed := nextState(name, cur, upd)
	if !changed {
		if status == http.StatusOK && (upd.DropPins || !hasCanaryTraffic(&cur)) {
			g.pins[name].reset()
		}
		return next, status, fe
	}
	g.states[name] = next
	if g.cfg.StateFile != "" {
		if err := saveState(g.cfg.StateFile, g.states); err != nil {
			g.states[name] = cur
			g.log.Error("persist gateway state", "route", name, "err", err)
			return cur, http.StatusInternalServerError, &ErrorBody{Error: "cannot persist state"}
		}
	}
	if upd.DropPins || !hasCanaryTraffic(&next) {
		g.pins[name].reset()
	}
	g.table.Store(g.buildTable())
	g.log.Info("route updated", "route", name, "generation", next.Generation,
		"stable", next.Stable.Version, "canary", canaryName(next), "canaryWeightBP", next.CanaryWeightBP,
		"shadowBP", next.ShadowBP)
	return next, http.StatusOK, nil
}

// nextState computes the state an update makes of cur, with the answer's
// status. changed is false when nothing is to be written: the update was
// refused (status and fe say why) or asks for the state there is (200 with
// cur). A stale ifGeneration is refused only when the update would change
// something, so a retried write is a no-op.
func nextState(name string, cur RouteState, upd RouteUpdate) (next RouteState, status int, fe *ErrorBody, changed bool) {
	next, fe = applyUpdate(cur, upd)
	if fe != nil {
		return cur, http.StatusBadRequest, fe, false
	}
	if fe := validateState(&next); fe != nil {
		return cur, http.StatusBadRequest, fe, false
	}
	if sameState(cur, next) {
		return cur, http.StatusOK, nil, false
	}
	if upd.IfGeneration != nil && *upd.IfGeneration != cur.Generation {
		return cur, http.StatusConflict, &ErrorBody{Field: "ifGeneration",
			Error: fmt.Sprintf("route %s is at generation %d, not %d", name, cur.Generation, *upd.IfGeneration)}, false
	}
	next.Generation = cur.Generation + 1
	next.UpdatedAt = time.Now().UTC()
	return next, http.StatusOK, nil, true
}

func canaryName(st RouteState) string {
	if st.Canary == nil {
		return ""
	}
	return st.Canary.Version
}

// applyUpdate computes the desired state of a route.
func applyUpdate(cur RouteState, upd RouteUpdate) (RouteState, *ErrorBody) {
	next := cur
	next.Segments = append([]Segment(nil), cur.Segments...)
	if upd.Stable != nil {
		next.Stable = *upd.Stable
	}
	if upd.Canary != nil && upd.RemoveCanary {
		return next, &ErrorBody{Field: "removeCanary", Error: "canary and removeCanary exclude each other"}
	}
	if upd.Canary != nil {
		c := *upd.Canary
		next.Canary = &c
	}
	if upd.RemoveCanary {
		next.Canary = nil
		next.CanaryWeightBP = 0
		for i := range next.Segments {
			next.Segments[i].CanaryWeightBP = 0
		}
		next.ShadowBP = 0
	}
	if upd.CanaryWeightBP != nil {
		next.CanaryWeightBP = *upd.CanaryWeightBP
	}
	if upd.Segments != nil {
		next.Segments = append([]Segment{}, (*upd.Segments)...)
	}
	names := make([]string, 0, len(upd.SegmentWeightsBP))
	for n := range upd.SegmentWeightsBP {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		found := false
		for i := range next.Segments {
			if next.Segments[i].Name == n {
				next.Segments[i].CanaryWeightBP = upd.SegmentWeightsBP[n]
				found = true
			}
		}
		if !found {
			return next, &ErrorBody{Field: "segmentWeightsBP." + n, Error: fmt.Sprintf("route has no segment %q", n)}
		}
		if !validBP(upd.SegmentWeightsBP[n]) {
			return next, &ErrorBody{Field: "segmentWeightsBP." + n, Error: fmt.Sprintf("%d is not within 0..%d", upd.SegmentWeightsBP[n], MaxBasisPoints)}
		}
	}
	if upd.ShadowBP != nil {
		next.ShadowBP = *upd.ShadowBP
	}
	if upd.Sticky != nil {
		st := *upd.Sticky
		st.Headers = append([]string(nil), st.Headers...)
		next.Sticky = &st
	}
	if next.Segments == nil {
		next.Segments = []Segment{}
	}
	return next, nil
}

// sameState compares the desired parts of two states.
func sameState(a, b RouteState) bool {
	a.Generation, b.Generation = 0, 0
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	if len(a.Segments) == 0 {
		a.Segments = nil
	}
	if len(b.Segments) == 0 {
		b.Segments = nil
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func (g *Gateway) handleStats(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since time.Time
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "since", "since must be an RFC 3339 time")
			return
		}
		since = t
	}
	route := q.Get("route")
	if route != "" {
		g.mu.Lock()
		_, ok := g.states[route]
		g.mu.Unlock()
		if !ok {
			writeError(w, http.StatusNotFound, "", fmt.Sprintf("unknown route %q", route))
			return
		}
	}
	writeJSON(w, http.StatusOK, g.Stats(route, since))
}

// Stats returns the stats of one route (every route when route is empty)
// with windows since the given time (none when since is zero).
func (g *Gateway) Stats(route string, since time.Time) Stats {
	now := time.Now()
	out := Stats{
		StartedAt:               g.startedAt,
		Now:                     now.UTC(),
		LatencyBucketsSeconds:   LatencyBucketsSeconds,
		WindowResolutionSeconds: int(windowResolution / time.Second),
		WindowHorizonSeconds:    int(windowResolution / time.Second * windowSlots),
		ShadowDropped:           g.reg.shadowDropped.Load(),
		Series:                  []Series{},
	}
	for _, s := range g.reg.all() {
		if route != "" && s.route != route {
			continue
		}
		total, win := s.snapshot(since, now)
		out.Series = append(out.Series, Series{Route: s.route, Version: s.version, Role: s.role, Cumulative: total, Window: win})
	}
	return out
}

// decodeStrict decodes a JSON body, refusing unknown fields, a name twice
// in one object, trailing data and bodies above maxAdminBody. It returns a
// non-zero status on failure.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) (int, *ErrorBody) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, &ErrorBody{Error: fmt.Sprintf("body larger than %d bytes", maxAdminBody)}
		}
		return http.StatusBadRequest, &ErrorBody{Error: "cannot read the body: " + err.Error()}
	}
	if path, ok := duplicateName(data); ok {
		return http.StatusBadRequest, &ErrorBody{Field: path, Error: fmt.Sprintf("%s is given twice", path)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return http.StatusBadRequest, &ErrorBody{Field: te.Field, Error: fmt.Sprintf("%s must be %s", te.Field, te.Type)}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return http.StatusBadRequest, &ErrorBody{Field: f, Error: fmt.Sprintf("unknown field %q", f)}
		case errors.Is(err, io.EOF):
			return http.StatusBadRequest, &ErrorBody{Error: "empty body"}
		default:
			return http.StatusBadRequest, &ErrorBody{Error: "malformed JSON: " + err.Error()}
		}
	}
	if dec.More() {
		return http.StatusBadRequest, &ErrorBody{Error: "trailing data after the JSON document"}
	}
	return 0, nil
}

// duplicateName finds a name given twice in one object of a JSON document
// and returns its path ("segments[1].name"); encoding/json would keep the
// last value silently. A malformed document is left to the decoder.
func duplicateName(data []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	type level struct {
		names map[string]bool // nil for an array
		path  string
		key   string // the object's name whose value comes next
		index int    // the array's next element
	}
	var stack []*level
	elem := func() string { // the path of the value that starts now
		if len(stack) == 0 {
			return ""
		}
		l := stack[len(stack)-1]
		if l.names == nil {
			l.index++
			return fmt.Sprintf("%s[%d]", l.path, l.index-1)
		}
		if l.path == "" {
			return l.key
		}
		return l.path + "." + l.key
	}
	valueDone := func() { // the value of the innermost object's name has ended
		if len(stack) > 0 && stack[len(stack)-1].names != nil {
			stack[len(stack)-1].key = ""
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				l := &level{path: elem()}
				if t == '{' {
					l.names = map[string]bool{}
				}
				stack = append(stack, l)
				continue
			}
			stack = stack[:len(stack)-1]
			valueDone()
		case string:
			if len(stack) > 0 && stack[len(stack)-1].names != nil && stack[len(stack)-1].key == "" {
				top := stack[len(stack)-1]
				top.key = t
				if top.names[t] {
					return elem(), true
				}
				top.names[t] = true
				continue
			}
			elem()
			valueDone()
		default:
			elem()
			valueDone()
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client may be gone; nothing to do about it
}

func writeError(w http.ResponseWriter, status int, field, msg string) {
	writeJSON(w, status, ErrorBody{Error: msg, Field: field})
}
