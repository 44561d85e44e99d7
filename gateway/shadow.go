package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// shadowJob is one mirrored copy of a stable request, sent to the canary.
type shadowJob struct {
	be                  *backend
	method, path, query string
	header              http.Header
	body                []byte
}

// shadower sends mirrored copies in the background with a fixed number of
// workers. enqueue never blocks: when the queue is full the copy is dropped
// and counted, so the primary request is never delayed.
type shadower struct {
	g       *Gateway
	q       chan shadowJob
	wg      sync.WaitGroup
	ctx     context.Context // cancelled when draining takes too long
	cancel  context.CancelFunc
	dropped func()
}

func newShadower(g *Gateway, workers, queue int) *shadower {
	ctx, cancel := context.WithCancel(context.Background())
	s := &shadower{g: g, q: make(chan shadowJob, queue), ctx: ctx, cancel: cancel,
		dropped: func() { g.reg.shadowDropped.Add(1) }}
	for range workers {
		s.wg.Add(1)
		go s.work()
	}
	return s
}

func (s *shadower) enqueue(j shadowJob) {
	select {
	case s.q <- j:
	default:
		s.dropped()
	}
}

func (s *shadower) work() {
	defer s.wg.Done()
	for j := range s.q {
		s.run(j)
	}
}

func (s *shadower) run(j shadowJob) {
	ctx, cancel := context.WithTimeout(s.ctx, s.g.cfg.Shadow.Timeout.D())
	defer cancel()
	start := time.Now()
	r, err := http.NewRequestWithContext(ctx, j.method, "/", nil)
	if err != nil { // the method came from a request the server parsed
		return
	}
	r.URL.RawQuery = j.query
	r.Header = j.header
	s.g.forward(discard{h: http.Header{}}, r, j.be, j.path, j.body, start, func(o *outcome, price Price, now time.Time) {
		if o.canceled { // the shadow's own deadline, not a client
			o.canceled = false
			o.timeout = true
		}
		j.be.shadow.record(o, price, now)
	})
}

// close stops taking copies and waits for the queued ones until ctx ends,
// then abandons the rest.
func (s *shadower) close(ctx context.Context) {
	close(s.q)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		<-done
	}
	s.cancel()
}

// discard is a ResponseWriter that throws the answer away.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(p []byte) (int, error) { return len(p), nil }
func (d discard) WriteHeader(int)             {}
