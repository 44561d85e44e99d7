package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Response headers the gateway adds so callers (and tests) can see which
// version served them.
const (
	HeaderVersion = "X-Coalmine-Version"
	HeaderRole    = "X-Coalmine-Role"
)

// maxCapture bounds how much of a JSON answer is kept to read its usage.
const maxCapture = 8 << 20

// hopHeaders are connection-level headers that a proxy must not forward.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// serveTraffic is the handler of the traffic listener.
func (g *Gateway) serveTraffic(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt, path := g.table.Load().match(r, r.URL.EscapedPath())
	if rt == nil {
		writeError(w, http.StatusNotFound, "", "no route for "+r.URL.Path)
		return
	}
	body, status := g.readBody(w, r)
	if status != 0 {
		msg := "cannot read request body"
		if status == http.StatusRequestEntityTooLarge {
			msg = "request body larger than " + strconv.FormatInt(g.cfg.Limits.MaxBodyBytes, 10) + " bytes"
		}
		writeError(w, status, "", msg)
		return
	}
	be := rt.pick(r, body, start)
	if be.role == RoleStable && rt.canary != nil && rt.state.ShadowBP > 0 &&
		rand.IntN(MaxBasisPoints) < rt.state.ShadowBP {
		g.shadow.enqueue(shadowJob{
			be: rt.canary, method: r.Method, path: path, query: r.URL.RawQuery,
			header: r.Header.Clone(), body: body,
		})
	}
	w.Header()[HeaderRole] = be.roleHdr
	deadline := time.Now().Add(g.cfg.Limits.MaxDuration.D())
	o := g.exchange(r.Context(), r.Context(), deadline, w, be, r.Method, path, r.URL.RawQuery, r.Header, body, start, r.RemoteAddr)
	be.series.record(&o, be.price, time.Now())
}

// readBody reads the whole request body within the configured limit; it
// returns a non-zero HTTP status when the body is refused.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int) {
	limit := g.cfg.Limits.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge
	}
	if r.Body == nil || r.ContentLength == 0 {
		return nil, 0
	}
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

// exchange sends one request to a backend and copies the answer to w,
// reading usage, tool calls and time to first token on the way. clientCtx is
// the context of whoever waits for the answer: when it ends first the
// request counts as canceled rather than failed. A non-zero deadline bounds
// the exchange; passing it rather than a context with a timeout spares the
// common path a timer and a context.
func (g *Gateway) exchange(ctx, clientCtx context.Context, deadline time.Time, w http.ResponseWriter, be *backend,
	method, path, query string, inHeader http.Header, body []byte, start time.Time, remoteAddr string) outcome {
	var o outcome
	if be.url.Scheme != "http" && !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	out, err := outRequest(ctx, be, method, path, query, inHeader, body, remoteAddr)
	if err != nil {
		o.status = http.StatusBadRequest
		o.latency = time.Since(start)
		writeError(w, http.StatusBadRequest, "", "malformed request path")
		return o
	}
	var resp *http.Response
	if be.url.Scheme == "http" {
		resp, err = g.upstream.roundTrip(out, deadline)
	} else {
		resp, err = g.transport.RoundTrip(out)
	}
	return g.relay(clientCtx, w, be, resp, err, start)
}

// outRequest builds the request that forwards a client's request to be:
// the backend's URL with the route's path and query, the client's header
// without hop-by-hop fields, and X-Forwarded-For.
func outRequest(ctx context.Context, be *backend, method, path, query string, inHeader http.Header, body []byte, remoteAddr string) (*http.Request, error) {
	u := *be.url
	u.Path, u.RawPath = "", ""
	u.Opaque = ""
	if p := strings.TrimSuffix(be.url.EscapedPath(), "/") + path; p != "" {
		if err := setEscapedPath(&u, p); err != nil {
			return nil, err
		}
	}
	u.RawQuery = query
	out := &http.Request{
		Method:     method,
		URL:        &u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, len(inHeader)+1),
		Host:       u.Host,
	}
	if ctx != context.Background() { // a request without one has Background's
		out = out.WithContext(ctx)
	}
	if len(body) > 0 {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	copyRequestHeader(out.Header, inHeader)
	if remoteAddr != "" {
		if ip, _, err := net.SplitHostPort(remoteAddr); err == nil {
			if prior, ok := inHeader["X-Forwarded-For"]; ok && len(prior) > 0 {
				ip = strings.Join(prior, ", ") + ", " + ip
			}
			out.Header["X-Forwarded-For"] = []string{ip}
		}
	}
	return out, nil
}

// relay copies a backend's answer (or its failure) to w, reading usage,
// tool calls and time to first token on the way, and returns the outcome.
func (g *Gateway) relay(clientCtx context.Context, w http.ResponseWriter, be *backend, resp *http.Response, err error, start time.Time) outcome {
	var o outcome
	if err != nil {
		o.latency = time.Since(start)
		switch {
		case clientCtx.Err() != nil:
			o.canceled = true
		case isTimeout(err):
			o.timeout = true
			o.status = http.StatusGatewayTimeout
			writeError(w, http.StatusGatewayTimeout, "", "upstream "+be.Version+" timed out")
		default:
			o.connFailure = true
			o.status = http.StatusBadGateway
			writeError(w, http.StatusBadGateway, "", "upstream "+be.Version+" unreachable")
		}
		return o
	}
	defer resp.Body.Close()
	o.status = resp.StatusCode
	h := w.Header()
	copyResponseHeader(h, resp.Header)
	h[HeaderVersion] = be.versionHdr
	w.WriteHeader(resp.StatusCode)

	ct := resp.Header.Get("Content-Type")
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode < 300
	var copyErr error
	var clientGone bool
	if strings.HasPrefix(ct, "text/event-stream") {
		o.streamed = true
		clientGone, copyErr = copyStream(w, resp.Body, &o, start)
	} else {
		clientGone, copyErr = g.copyBody(w, resp.Body, &o, ok2xx && strings.Contains(ct, "json"))
	}
	o.latency = time.Since(start)
	if o.streamDone {
		// The whole answer reached the client; a disconnect after [DONE]
		// is not a failure.
		clientGone, copyErr = false, nil
	}
	switch {
	case clientGone || (copyErr != nil && clientCtx.Err() != nil):
		o.canceled = true
	case copyErr != nil && isTimeout(copyErr):
		o.timeout = true
	case copyErr != nil:
		o.connFailure = true
	case ok2xx:
		o.answered = true
	}
	return o
}

// copyBody copies a non-streamed answer; with capture it keeps the body (up
// to maxCapture) and reads its usage and tool calls.
func (g *Gateway) copyBody(w http.ResponseWriter, body io.Reader, o *outcome, capture bool) (clientGone bool, err error) {
	bp := g.bufPool.Get().(*[]byte)
	defer g.bufPool.Put(bp)
	buf := *bp
	var cb *bytes.Buffer
	if capture {
		cb = g.capPool.Get().(*bytes.Buffer)
		cb.Reset()
		defer func() {
			if cb.Cap() <= 1<<20 { // a rare huge answer is not kept alive by the pool
				g.capPool.Put(cb)
			}
		}()
	}
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if cb != nil && cb.Len()+n <= maxCapture {
				cb.Write(buf[:n])
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return true, werr
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return false, rerr
		}
	}
	if cb != nil {
		parseAnswer(cb.Bytes(), o)
	}
	return false, nil
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func copyRequestHeader(dst, src http.Header) {
	for k, vv := range src {
		dst[k] = vv
	}
	removeHop(dst, src)
	// The gateway reads usage from answers, so it asks for them uncompressed.
	delete(dst, "Accept-Encoding")
	// The body has been read already; nothing waits for a 100 Continue.
	delete(dst, "Expect")
}

func copyResponseHeader(dst, src http.Header) {
	for k, vv := range src {
		dst[k] = vv
	}
	removeHop(dst, src)
}

// removeHop deletes hop-by-hop headers, including those named in the
// source's Connection header.
func removeHop(dst, src http.Header) {
	for _, c := range src["Connection"] {
		for _, f := range strings.Split(c, ",") {
			if f = strings.TrimSpace(f); f != "" {
				dst.Del(f)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(dst, k) // the names are canonical
	}
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
