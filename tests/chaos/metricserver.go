package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"time"
)

// startMetricServer serves the eval endpoint the plans' web metric reads,
// well and in the ways a metric endpoint fails: /pass and /fail answer a
// pass rate, /500 an error, /garbage no JSON, /missing JSON without the
// field, /hang nothing until the client gives up.
func startMetricServer() (*httptest.Server, error) {
	mux := http.NewServeMux()
	answer := func(body string, status int) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}
	}
	mux.HandleFunc("/pass", answer(`{"passRate": 0.97}`, http.StatusOK))
	mux.HandleFunc("/fail", answer(`{"passRate": 0.2}`, http.StatusOK))
	mux.HandleFunc("/500", answer(`{"error": "eval harness crashed"}`, http.StatusInternalServerError))
	mux.HandleFunc("/garbage", answer(`<html>passRate: lots</html>`, http.StatusOK))
	mux.HandleFunc("/missing", answer(`{"score": 0.97}`, http.StatusOK))
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	})
	return httptest.NewServer(mux), nil
}

// closedURL is an address where nothing listens.
func closedURL() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "http://127.0.0.1:1"
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}
