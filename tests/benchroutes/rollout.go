package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// driver talks to one gateway as rollouts and clients do.
type driver struct {
	hc                             *http.Client
	traffic, admin, token, backend string
}

// rollout does to route what a rollout's router and metric provider do over
// the admin API, with a little traffic between the steps.
func (d *driver) rollout(route string, perStep int) error {
	gen, err := d.generation(route)
	if err != nil {
		return err
	}
	if gen, err = d.put(route, map[string]any{
		"ifGeneration":   gen,
		"canary":         map[string]string{"version": "v2", "url": d.backend},
		"canaryWeightBP": 1000,
		"segments":       []map[string]any{{"name": "beta", "header": map[string]string{"name": "x-cohort", "value": "beta"}, "canaryWeightBP": 5000}},
		"shadowBP":       1000,
	}); err != nil {
		return err
	}
	start := time.Now()
	if err := d.send(route, perStep, 0); err != nil {
		return err
	}
	if err := d.stats(route, start); err != nil {
		return err
	}
	if _, err = d.put(route, map[string]any{"ifGeneration": gen, "canaryWeightBP": 5000}); err != nil {
		return err
	}
	if err := d.send(route, perStep, perStep); err != nil {
		return err
	}
	return d.stats(route, start)
}

// send sends n chat completions of distinct sessions, every third one in the
// beta segment.
func (d *driver) send(route string, n, first int) error {
	for i := first; i < first+n; i++ {
		req, err := http.NewRequest(http.MethodPost, d.traffic+"/"+route+"/v1/chat/completions",
			bytes.NewReader([]byte(`{"model":"m","messages":[{"role":"user","content":"What is the capital of France?"}]}`)))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-session-id", route+"-"+strconv.Itoa(i))
		if i%3 == 0 {
			req.Header.Set("x-cohort", "beta")
		}
		if _, err := d.do(req, http.StatusOK); err != nil {
			return fmt.Errorf("route %s: request: %w", route, err)
		}
	}
	return nil
}

func (d *driver) generation(route string) (int64, error) {
	req, err := d.adminRequest(http.MethodGet, "/admin/v1/routes/"+route, nil)
	if err != nil {
		return 0, err
	}
	return d.state(req)
}

func (d *driver) put(route string, upd map[string]any) (int64, error) {
	body, err := json.Marshal(upd)
	if err != nil {
		return 0, err
	}
	req, err := d.adminRequest(http.MethodPut, "/admin/v1/routes/"+route, body)
	if err != nil {
		return 0, err
	}
	return d.state(req)
}

// state sends an admin request answered with a route state and returns its
// generation.
func (d *driver) state(req *http.Request) (int64, error) {
	data, err := d.do(req, http.StatusOK)
	if err != nil {
		return 0, err
	}
	var st struct {
		Generation int64 `json:"generation"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return 0, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return st.Generation, nil
}

// stats reads the route's stats with a window since the given time, as
// the gateway metric provider does at each look.
func (d *driver) stats(route string, since time.Time) error {
	q := url.Values{"route": {route}, "since": {since.UTC().Format(time.RFC3339Nano)}}
	req, err := d.adminRequest(http.MethodGet, "/admin/v1/stats?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	_, err = d.do(req, http.StatusOK)
	return err
}

func (d *driver) adminRequest(method, path string, body []byte) (*http.Request, error) {
	req, err := http.NewRequest(method, d.admin+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	return req, nil
}

// do sends req and returns the body of an answer with the wanted status.
func (d *driver) do(req *http.Request, want int) ([]byte, error) {
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, data)
	}
	return data, nil
}
