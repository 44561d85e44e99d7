package main

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// hist counts durations in 10 µs buckets up to 10 s (and one bucket
// above), so that millions of chunk delays cost fixed memory.
type hist struct{ b [1_000_001]atomic.Uint64 }

const histStep = 10 * time.Microsecond

func (h *hist) add(d time.Duration) {
	i := int(max(d, 0) / histStep)
	h.b[min(i, len(h.b)-1)].Add(1)
}

func (h *hist) count() uint64 {
	var n uint64
	for i := range h.b {
		n += h.b[i].Load()
	}
	return n
}

// quantile is the upper bound of the bucket that holds quantile q.
func (h *hist) quantile(q float64) time.Duration {
	n := h.count()
	if n == 0 {
		return 0
	}
	rank := uint64(q * float64(n))
	var c uint64
	for i := range h.b {
		c += h.b[i].Load()
		if c > rank {
			return time.Duration(i+1) * histStep
		}
	}
	return time.Duration(len(h.b)) * histStep
}

// phaseResult is what one target did at one concurrency.
type phaseResult struct {
	ttft, ttftOverhead, chunk hist // client-side time to first token; its part outside the backend; chunk delay
	toBackend                 hist // client sending to the backend receiving: the request's way
	streams, errors           atomic.Int64
	firstErr                  atomic.Value  // string: the first error, for the log
	cpu                       time.Duration // the target's CPU time over the window
	rss                       int64         // the target's resident memory at the window's end, above its idle size
}

// streamBody is the request each stream sends.
const streamBody = `{"model":"m","stream":true,"messages":[{"role":"user","content":"Tell me about the weather in Paris."}]}`

// runPhase keeps conc streams going against url: they start spread over
// ramp, each slot begins a new stream when its last one ends, and what
// happens within [ramp, ramp+window) is measured. The target's processes
// are sampled for CPU and memory at the window's edges.
func runPhase(url string, conc int, ramp, window time.Duration, pids func() []int, idleRSS int64) *phaseResult {
	res := &phaseResult{}
	tr := &http.Transport{
		MaxIdleConnsPerHost: conc, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	start := time.Now()
	from, to := start.Add(ramp), start.Add(ramp+window)
	ctx, cancel := context.WithDeadline(context.Background(), to)
	defer cancel()
	var wg sync.WaitGroup
	for i := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * ramp / time.Duration(conc))
			for ctx.Err() == nil {
				stream(ctx, hc, url, res, from)
			}
		}()
	}
	time.Sleep(time.Until(from))
	cpu0 := procCPU(pids())
	time.Sleep(time.Until(to))
	res.cpu = procCPU(pids()) - cpu0
	res.rss = procRSS(pids()) - idleRSS
	cancel()
	wg.Wait()
	return res
}

// stream runs one streamed chat completion and records its times; only
// what is received after from counts.
func stream(ctx context.Context, hc *http.Client, url string, res *phaseResult, from time.Time) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(streamBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Session-Id", strconv.FormatUint(rand.Uint64(), 36))
	sent := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			res.errors.Add(1)
			res.firstErr.CompareAndSwap(nil, err.Error())
			time.Sleep(100 * time.Millisecond)
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		res.errors.Add(1)
		res.firstErr.CompareAndSwap(nil, resp.Status)
		return
	}
	counted := sent.After(from)
	br := bufio.NewReaderSize(resp.Body, 4<<10)
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if ctx.Err() == nil {
				res.errors.Add(1)
				res.firstErr.CompareAndSwap(nil, "reading the stream: "+err.Error())
			}
			return
		}
		now := time.Now()
		if bytes.Equal(line, []byte("data: [DONE]\n")) {
			if counted {
				res.streams.Add(1)
			}
			return
		}
		s, ok := field(line, `"s":`)
		if !ok {
			continue
		}
		if now.After(from) {
			res.chunk.add(time.Duration(now.UnixNano() - s))
		}
		if first && counted {
			r, _ := field(line, `"r":`)
			res.ttft.add(now.Sub(sent))
			res.ttftOverhead.add(time.Duration(r-sent.UnixNano()) + time.Duration(now.UnixNano()-s))
			res.toBackend.add(time.Duration(r - sent.UnixNano()))
		}
		first = false
	}
}

// field reads the integer after key in a chunk.
func field(line []byte, key string) (int64, bool) {
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := line[i+len(key):]
	j := bytes.IndexByte(rest, ',')
	if j < 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return v, err == nil
}
