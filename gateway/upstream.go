package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// upstream is a small HTTP/1.1 client for plain-HTTP backends. Unlike
// http.Transport it does the whole exchange on the calling goroutine (no
// read and write loops to hand the request to), which on a busy machine
// saves several goroutine wake-ups per request. HTTPS backends use
// http.Transport.
type upstream struct {
	dialer        *net.Dialer
	headerTimeout time.Duration
	idleTimeout   time.Duration
	maxIdle       int

	mu   sync.Mutex
	idle map[string][]*upConn // by host:port, most recently used last
}

type upConn struct {
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	used time.Time
}

func newUpstream(connectTimeout, headerTimeout time.Duration) *upstream {
	return &upstream{
		dialer:        &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second},
		headerTimeout: headerTimeout,
		idleTimeout:   60 * time.Second,
		maxIdle:       1024,
		idle:          map[string][]*upConn{},
	}
}

// get returns an idle connection to addr or dials a new one.
func (u *upstream) get(ctx context.Context, addr string) (*upConn, bool, error) {
	now := time.Now()
	u.mu.Lock()
	for l := u.idle[addr]; len(l) > 0; l = u.idle[addr] {
		uc := l[len(l)-1]
		u.idle[addr] = l[:len(l)-1]
		if now.Sub(uc.used) > u.idleTimeout {
			uc.c.Close()
			continue
		}
		u.mu.Unlock()
		return uc, true, nil
	}
	u.mu.Unlock()
	c, err := u.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	return &upConn{c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 16<<10)}, false, nil
}

func (u *upstream) put(addr string, uc *upConn) {
	uc.used = time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.idle[addr]) >= u.maxIdle {
		uc.c.Close()
		return
	}
	u.idle[addr] = append(u.idle[addr], uc)
}

// closeIdle closes every idle connection.
func (u *upstream) closeIdle() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for addr, l := range u.idle {
		for _, uc := range l {
			uc.c.Close()
		}
		delete(u.idle, addr)
	}
}

// roundTrip sends req (whose body, if any, is replayable through GetBody)
// and returns the response. The response body must be closed; reading it
// to the end returns the connection to the pool. Cancelling req's context
// aborts the exchange at once.
func (u *upstream) roundTrip(req *http.Request) (*http.Response, error) {
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr += ":80"
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		uc, reused, err := u.get(ctx, addr)
		if err != nil {
			return nil, err
		}
		resp, err := u.exchange(ctx, uc, req)
		if err == nil {
			return resp, nil
		}
		uc.c.Close()
		// A kept-alive connection the backend closed while idle fails
		// before any answer; the request was not processed, so send it
		// once more on a fresh connection.
		if reused && attempt == 0 && ctx.Err() == nil && staleConn(err) {
			if req.GetBody != nil {
				if req.Body, err = req.GetBody(); err != nil {
					return nil, err
				}
			}
			continue
		}
		return nil, err
	}
}

func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (u *upstream) exchange(ctx context.Context, uc *upConn, req *http.Request) (*http.Response, error) {
	// Cancellation: an expired or cancelled context breaks any blocked
	// read or write on the connection.
	stop := context.AfterFunc(ctx, func() { _ = uc.c.SetDeadline(time.Unix(1, 0)) })
	if err := req.Write(uc.bw); err != nil {
		stop()
		return nil, ctxErr(ctx, err)
	}
	if err := uc.bw.Flush(); err != nil {
		stop()
		return nil, ctxErr(ctx, err)
	}
	if u.headerTimeout > 0 {
		_ = uc.c.SetReadDeadline(time.Now().Add(u.headerTimeout))
	}
	var resp *http.Response
	for {
		var err error
		resp, err = http.ReadResponse(uc.br, req)
		if err != nil {
			stop()
			return nil, ctxErr(ctx, err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		_ = resp.Body.Close() // 1xx: informational, no body; wait for the real answer
	}
	if err := ctx.Err(); err != nil { // the context ended meanwhile
		stop()
		return nil, err
	}
	_ = uc.c.SetReadDeadline(time.Time{})
	// The same cancellation stays armed while the body is read; the body
	// disarms it when it finishes.
	resp.Body = &upBody{rc: resp.Body, u: u, uc: uc, addr: req.URL.Host, reuse: !resp.Close && !req.Close, stop: stop, ctx: ctx}
	return resp, nil
}

// ctxErr prefers the context's error when the context caused the failure.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// upBody returns the connection to the pool when the body was read to the
// end, and closes it otherwise.
type upBody struct {
	rc    io.ReadCloser
	u     *upstream
	uc    *upConn
	addr  string
	reuse bool
	stop  func() bool
	ctx   context.Context
	done  bool
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		b.finish(false)
		return n, ctxErr(b.ctx, err)
	}
	return n, err
}

func (b *upBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

func (b *upBody) finish(complete bool) {
	b.done = true
	stopped := b.stop()
	if complete && b.reuse && stopped {
		addr := b.addr
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr += ":80"
		}
		b.u.put(addr, b.uc)
		return
	}
	b.uc.c.Close()
}
