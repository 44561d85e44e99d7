package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Response headers the gateway adds so callers (and tests) can see which
// version served them.
const (
	HeaderVersion = "X-Coalmine-Version"
	HeaderRole    = "X-Coalmine-Role"
)

// serveTraffic is the handler of the traffic listener.
func (g *Gateway) serveTraffic(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt, path := g.table.Load().match(r, r.URL.EscapedPath())
	if rt == nil {
		writeError(w, http.StatusNotFound, "", "no route for "+r.URL.Path)
		return
	}
	upgrade := isWebSocket(r)
	body, status := g.readBody(w, r)
	if status != 0 {
		msg := "cannot read request body"
		if status == http.StatusRequestEntityTooLarge {
			msg = "request body larger than " + strconv.FormatInt(g.cfg.Limits.MaxBodyBytes, 10) + " bytes"
		}
		refuseBody(w, status, msg)
		return
	}
	be := rt.pick(r, body, start)
	if !upgrade && be.role == RoleStable && rt.canary != nil && rt.state.ShadowBP > 0 &&
		rand.IntN(MaxBasisPoints) < rt.state.ShadowBP {
		g.shadow.enqueue(shadowJob{
			be: rt.canary, method: r.Method, path: path, query: r.URL.RawQuery,
			header: r.Header.Clone(), body: body,
		})
	}
	w.Header()[HeaderRole] = be.roleHdr
	if upgrade {
		g.serveSession(w, r, be, path, start)
		return
	}
	g.forward(w, r, be, path, body, start, be.series.record)
}

// refuseBody answers a request whose body was refused and closes the
// connection. net/http reads on for what is left of the body before it
// closes (so that the client is not reset before it reads the answer);
// a second bounds that.
func refuseBody(w http.ResponseWriter, status int, msg string) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Second))
	w.Header().Set("Connection", "close")
	writeError(w, status, "", msg)
}

// readBody reads the whole request body within the configured size and
// time limits; it returns a non-zero HTTP status when the body is refused.
// The read deadline is lifted afterwards, so that a streamed answer may
// take as long as Limits.MaxDuration while the server still notices a
// client that goes away.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int) {
	limit := g.cfg.Limits.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, 0
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(g.cfg.Limits.ReadTimeout.D())) // not every writer has one (shadow, tests)
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge
		}
		return nil, http.StatusBadRequest
	}
	return buf.Bytes(), 0
}

// exchange is one request on its way through the reverse proxy: what the
// handler decided, and what the proxy's hooks saw of the answer. It
// travels in the request's context.
type exchange struct {
	be        *backend
	target    *url.URL
	body      []byte
	start     time.Time
	clientCtx context.Context // ends when whoever waits for the answer goes
	o         outcome
	answer    *answerBody // the answer's body, once headers came
	failed    bool        // the error handler answered
	session   *session    // a WebSocket session; nil for plain requests
}

type exchangeKey struct{}

func exchangeOf(r *http.Request) *exchange {
	x, _ := r.Context().Value(exchangeKey{}).(*exchange)
	return x
}

// newProxy returns the reverse proxy every request goes through: traffic,
// requests pinned to a version, mirrored copies and WebSocket sessions.
func (g *Gateway) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport:      g.transport,
		Rewrite:        g.rewrite,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		FlushInterval:  -1, // every read of an answer is sent on at once: SSE events are never held
		BufferPool:     (*bufferPool)(&g.bufPool),
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
}

// forward sends a request to be through the proxy and copies the answer to
// w, reading usage, tool calls and time to first token on the way. path is
// the escaped path after the backend's base URL. The outcome is passed to
// record even when the proxy aborts the handler (http.ErrAbortHandler)
// because the copy failed.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, be *backend, path string, body []byte, start time.Time,
	record func(*outcome, Price, time.Time)) {
	target, err := targetURL(be, path, r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "", "malformed request path")
		record(&outcome{status: http.StatusBadRequest, latency: time.Since(start)}, be.price, time.Now())
		return
	}
	x := &exchange{be: be, target: target, body: body, start: start, clientCtx: r.Context()}
	ctx, cancel := context.WithDeadline(context.WithValue(r.Context(), exchangeKey{}, x), start.Add(g.cfg.Limits.MaxDuration.D()))
	defer cancel()
	defer func() {
		o := x.settle()
		record(&o, be.price, time.Now())
	}()
	g.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// targetURL is the backend's URL for a request: its base with the route's
// escaped path appended, and the request's query.
func targetURL(be *backend, path, query string) (*url.URL, error) {
	u := *be.url
	u.Path, u.RawPath, u.Opaque = "", "", ""
	if p := strings.TrimSuffix(be.url.EscapedPath(), "/") + path; p != "" {
		if err := setEscapedPath(&u, p); err != nil {
			return nil, err
		}
	}
	u.RawQuery = query
	return &u, nil
}

// rewrite builds the request to the backend (ReverseProxy has removed the
// hop-by-hop fields): the backend's URL and Host, the body read already,
// the client's address appended to X-Forwarded-For, and no Accept-Encoding
// (the gateway reads usage from answers) or Expect (the body is here).
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	x := exchangeOf(pr.In)
	out := pr.Out
	out.URL = x.target
	out.Host = x.target.Host
	out.Trailer = nil
	out.TransferEncoding = nil
	if len(x.body) > 0 {
		body := x.body
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	} else {
		out.Body, out.ContentLength, out.GetBody = nil, 0, nil
	}
	h := out.Header
	delete(h, "Accept-Encoding")
	delete(h, "Expect")
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h["X-Forwarded-For"] = []string{ip}
	}
	if x.session != nil {
		x.session.rewrite(out)
	} else {
		// Only WebSocket sessions switch protocols (h2c and others are
		// not offered to the backend).
		delete(h, "Upgrade")
		delete(h, "Connection")
	}
}

// modifyResponse notes the answer's status, marks it with the version that
// served it and puts a reader in front of its body that reads usage, tool
// calls and time to first token as the proxy copies it.
func (g *Gateway) modifyResponse(resp *http.Response) error {
	x := exchangeOf(resp.Request)
	x.o.status = resp.StatusCode
	resp.Header[HeaderVersion] = x.be.versionHdr
	if x.session != nil {
		return x.session.answered(resp)
	}
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode < 300
	ct := resp.Header.Get("Content-Type")
	x.answer = &answerBody{ReadCloser: resp.Body, o: &x.o, start: x.start}
	switch {
	case strings.HasPrefix(ct, "text/event-stream"):
		x.o.streamed = true
		x.answer.sse = true
	case ok2xx && strings.Contains(ct, "json"):
		x.answer.capture = true
	}
	resp.Body = x.answer
	return nil
}

// proxyError answers a request whose backend could not be asked or did not
// answer in time: 504 for a timeout, 502 otherwise, nothing when the client
// has gone. The answer names the version, like every answer.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	x := exchangeOf(r)
	x.failed = true
	x.o.latency = time.Since(x.start)
	w.Header()[HeaderVersion] = x.be.versionHdr
	switch {
	case x.clientCtx.Err() != nil:
		x.o.canceled = true
	case isTimeout(err):
		x.o.timeout = true
		x.o.status = http.StatusGatewayTimeout
		writeError(w, http.StatusGatewayTimeout, "", "upstream "+x.be.Version+" timed out")
	default:
		x.o.connFailure = true
		x.o.status = http.StatusBadGateway
		writeError(w, http.StatusBadGateway, "", "upstream "+x.be.Version+" unreachable")
	}
	if !x.o.canceled && x.be.warnNow(time.Now()) {
		g.log.Warn("upstream failed (at most one line a second per version)", "version", x.be.Version, "role", x.be.role, "err", err)
	}
}

// settle turns what the proxy's hooks saw into the request's outcome.
func (x *exchange) settle() outcome {
	o := x.o
	if x.failed {
		return o
	}
	o.latency = time.Since(x.start)
	a := x.answer
	switch {
	case a == nil: // the proxy gave up before any answer without calling the error handler
		o.canceled = x.clientCtx.Err() != nil
		o.connFailure = !o.canceled
	case a.done || o.streamDone:
		// The whole answer was read; a client that goes after [DONE] has
		// had it all.
		o.answered = o.status >= 200 && o.status < 300
	case x.clientCtx.Err() != nil:
		o.canceled = true
	case a.err != nil && isTimeout(a.err):
		o.timeout = true
	case a.err != nil:
		o.connFailure = true
	default: // the backend's answer was fine; writing it to the client failed
		o.canceled = true
	}
	return o
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// setEscapedPath sets an already escaped path on u.
func setEscapedPath(u *url.URL, escaped string) error {
	p, err := url.PathUnescape(escaped)
	if err != nil {
		return err
	}
	u.Path = p
	if p != escaped {
		u.RawPath = escaped
	}
	return nil
}

// bufferPool lends the proxy its copy buffers.
type bufferPool sync.Pool

// Get implements httputil.BufferPool.
func (p *bufferPool) Get() []byte { return *(*sync.Pool)(p).Get().(*[]byte) }

// Put implements httputil.BufferPool.
func (p *bufferPool) Put(b []byte) { (*sync.Pool)(p).Put(&b) }
