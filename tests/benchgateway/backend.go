package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

// pace is how the backend streams: the first chunk after ttft, then a
// chunk every chunkMin..chunkMax until a stream length drawn from
// streamMin..streamMax has passed.
type pace struct {
	ttft, chunkMin, chunkMax, streamMin, streamMax time.Duration
}

func between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo)
}

// backend is the LLM stand-in every target proxies to. POST
// /v1/chat/completions streams server-sent events at the pace; each chunk
// carries the time it was sent ("s") and the time the request arrived
// ("r"), in Unix nanoseconds, so the client can tell what the path added.
// POST /v1/instant answers a small JSON document at once (the saturation
// line).
func backend(p pace) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/instant", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Paris."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}`)
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		recv := time.Now().UnixNano()
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		end := time.Now().Add(p.ttft + between(p.streamMin, p.streamMax))
		t := time.NewTimer(p.ttft)
		defer t.Stop()
		chunks := 0
		for {
			select {
			case <-r.Context().Done():
				return
			case <-t.C:
			}
			if _, err := fmt.Fprintf(w, "data: {\"s\":%d,\"r\":%d,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok \"}}]}\n\n", time.Now().UnixNano(), recv); err != nil {
				return
			}
			_ = rc.Flush()
			chunks++
			if time.Now().After(end) {
				break
			}
			t.Reset(between(p.chunkMin, p.chunkMax))
		}
		_, _ = fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\ndata: [DONE]\n\n", chunks, 12+chunks)
	})
	return mux
}
