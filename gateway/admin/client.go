// Package admin is the client of the gateway's admin API and its wire
// format: route state, route updates and statistics. Routers and metric
// providers import it without the gateway's data plane; the gateway serves
// the same types.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Sentinel errors of the admin client; match them with errors.Is.
var (
	ErrUnauthorized  = errors.New("gateway admin: unauthorized")
	ErrNotFound      = errors.New("gateway admin: not found")
	ErrConflict      = errors.New("gateway admin: stale generation")
	ErrInvalid       = errors.New("gateway admin: invalid request")
	ErrUnavailable   = errors.New("gateway admin: unavailable")
	ErrTooLarge      = errors.New("gateway admin: body too large")
	errUnexpectedRes = errors.New("gateway admin: unexpected answer")
)

// APIError is a refused admin request. It wraps one of the sentinel errors.
type APIError struct {
	Op     string // e.g. "set route voice-agent"
	Status int
	Body   ErrorBody
	kind   error
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s: %s (HTTP %d)", e.Op, e.Body.Error, e.Status)
	if e.Body.Field != "" {
		msg = fmt.Sprintf("%s: field %s: %s (HTTP %d)", e.Op, e.Body.Field, e.Body.Error, e.Status)
	}
	return msg
}

// Unwrap returns the sentinel error of the status.
func (e *APIError) Unwrap() error { return e.kind }

// Client is a typed client of the gateway admin API.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// NewClient returns a client of the admin API at baseURL (e.g.
// http://127.0.0.1:8480). A nil hc uses a client with a 30 s timeout. The
// token is sent as a bearer token and never appears in errors.
func NewClient(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: hc}
}

// Routes lists every route.
func (c *Client) Routes(ctx context.Context) ([]RouteState, error) {
	var out RouteList
	if err := c.do(ctx, "list routes", http.MethodGet, PathRoutes, nil, &out); err != nil {
		return nil, err
	}
	return out.Routes, nil
}

// Route reads one route.
func (c *Client) Route(ctx context.Context, name string) (RouteState, error) {
	var out RouteState
	err := c.do(ctx, "read route "+name, http.MethodGet, PathRoutes+"/"+url.PathEscape(name), nil, &out)
	return out, err
}

// SetRoute applies an update to a route and returns the resulting state.
// A stale IfGeneration gives an error wrapping ErrConflict.
func (c *Client) SetRoute(ctx context.Context, name string, upd RouteUpdate) (RouteState, error) {
	var out RouteState
	err := c.do(ctx, "set route "+name, http.MethodPut, PathRoutes+"/"+url.PathEscape(name), upd, &out)
	return out, err
}

// Modify reads a route, lets change build the update from the current state
// and writes it with the read generation, retrying up to attempts times when
// another writer got there first. Because updates hold absolute values, the
// result is the same however often it is retried.
func (c *Client) Modify(ctx context.Context, name string, attempts int, change func(RouteState) (RouteUpdate, error)) (RouteState, error) {
	if attempts < 1 {
		attempts = 1
	}
	var last error
	for range attempts {
		cur, err := c.Route(ctx, name)
		if err != nil {
			return RouteState{}, err
		}
		upd, err := change(cur)
		if err != nil {
			return cur, err
		}
		gen := cur.Generation
		upd.IfGeneration = &gen
		st, err := c.SetRoute(ctx, name, upd)
		if err == nil {
			return st, nil
		}
		if !errors.Is(err, ErrConflict) {
			return st, err
		}
		last = err
	}
	return RouteState{}, last
}

// Stats reads the stats of route (every route when empty), with windows
// since the given time when since is not zero.
func (c *Client) Stats(ctx context.Context, route string, since time.Time) (Stats, error) {
	q := url.Values{}
	if route != "" {
		q.Set("route", route)
	}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	p := PathStats
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out Stats
	err := c.do(ctx, "read stats", http.MethodGet, p, nil, &out)
	return out, err
}

func (c *Client) do(ctx context.Context, op, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s: encode: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &APIError{Op: op, Status: resp.StatusCode}
		_ = json.Unmarshal(data, &e.Body)
		if e.Body.Error == "" {
			e.Body.Error = http.StatusText(resp.StatusCode)
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
			e.kind = ErrUnauthorized
		case resp.StatusCode == http.StatusNotFound:
			e.kind = ErrNotFound
		case resp.StatusCode == http.StatusConflict:
			e.kind = ErrConflict
		case resp.StatusCode == http.StatusRequestEntityTooLarge:
			e.kind = ErrTooLarge
		case resp.StatusCode == http.StatusBadRequest:
			e.kind = ErrInvalid
		case resp.StatusCode >= 500:
			e.kind = ErrUnavailable
		default:
			e.kind = errUnexpectedRes
		}
		return e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", op, err)
	}
	return nil
}
