package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// maxPending is how much body a response holds back before its head is
// written, so that a short answer without a Content-Length gets one rather
// than being chunked.
const maxPending = 2 << 10

// response is the http.ResponseWriter (and flusher) of trafficServer. A
// handler's head and body go to the connection's buffered writer; the
// buffer is flushed when the handler returns or flushes, so a short answer
// leaves in one system call.
type response struct {
	sc          *serverConn
	req         *http.Request
	header      http.Header
	status      int
	wroteHeader bool  // the handler chose a status
	committed   bool  // the head is in the writer
	noBody      bool  // HEAD, or a status without a body
	length      int64 // the declared Content-Length, or -1
	written     int64 // body bytes the handler wrote
	chunked     bool
	closeAfter  bool   // the connection ends with this answer
	pending     []byte // body written before the head, reused
	err         error  // writing to the client failed
}

func (r *response) reset(sc *serverConn, req *http.Request) {
	h := r.header
	if h == nil {
		h = make(http.Header, 8)
	} else {
		clear(h)
	}
	*r = response{sc: sc, req: req, header: h, length: -1, pending: r.pending[:0], closeAfter: req.Close}
}

// Header implements http.ResponseWriter.
func (r *response) Header() http.Header { return r.header }

// WriteHeader implements http.ResponseWriter. An informational status is
// sent at once; a second final status is ignored, as by net/http.
func (r *response) WriteHeader(code int) {
	if r.wroteHeader || r.err != nil {
		return
	}
	if code < 100 || code > 999 {
		code = http.StatusInternalServerError
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		r.writeStatusLine(code)
		r.writeFields()
		r.sc.bw.WriteString("\r\n")
		r.err = r.sc.bw.Flush()
		return
	}
	r.wroteHeader, r.status = true, code
	r.noBody = r.req.Method == http.MethodHead || code < 200 || code == http.StatusNoContent || code == http.StatusNotModified
	if cl, ok := r.header["Content-Length"]; ok {
		if n, ok := parseLength(cl); ok && len(cl) == 1 {
			r.length = n
		} else {
			delete(r.header, "Content-Length")
		}
	}
}

// Write implements http.ResponseWriter.
func (r *response) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	if r.err != nil {
		return 0, r.err
	}
	if r.noBody {
		if r.req.Method == http.MethodHead && r.status >= 200 && r.status != http.StatusNoContent && r.status != http.StatusNotModified {
			return len(p), nil // HEAD: the body is dropped, as by net/http
		}
		return 0, http.ErrBodyNotAllowed
	}
	if r.length >= 0 && r.written+int64(len(p)) > r.length {
		return 0, http.ErrContentLength
	}
	r.written += int64(len(p))
	if !r.committed {
		if r.length < 0 && len(r.pending)+len(p) <= maxPending {
			r.pending = append(r.pending, p...)
			return len(p), nil
		}
		r.commit(false)
	}
	return r.writeBody(p)
}

func (r *response) writeBody(p []byte) (int, error) {
	bw := r.sc.bw
	if r.chunked && len(p) > 0 {
		var hb [16]byte
		bw.Write(strconv.AppendInt(hb[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	if r.chunked && len(p) > 0 {
		_, err = bw.WriteString("\r\n")
	}
	if err != nil {
		r.err = err
		return n, err
	}
	return len(p), nil
}

// commit writes the head. final says the handler has returned, so what is
// pending is the whole body.
func (r *response) commit(final bool) {
	r.committed = true
	h := r.header
	delete(h, "Transfer-Encoding")
	if r.sc.s.stopping() || (r.status == http.StatusRequestEntityTooLarge && r.sc.body.unread()) {
		r.closeAfter = true // a refused body is not read to find the next request
	}
	for _, v := range h["Connection"] {
		if hasToken(v, "close") {
			r.closeAfter = true
		}
	}
	delete(h, "Connection")
	switch {
	case r.noBody || r.length >= 0:
	case final:
		r.length = int64(len(r.pending))
		h["Content-Length"] = []string{strconv.Itoa(len(r.pending))}
	case r.req.ProtoMinor >= 1:
		r.chunked = true
	default:
		r.closeAfter = true // HTTP/1.0: the end of the body is the end of the connection
	}
	r.writeStatusLine(r.status)
	r.writeFields()
	bw := r.sc.bw
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.WriteString(httpDate())
		bw.WriteString("\r\n")
	}
	if r.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case r.closeAfter:
		bw.WriteString("Connection: close\r\n")
	case r.req.ProtoMinor == 0:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	bw.WriteString("\r\n")
	if len(r.pending) > 0 {
		p := r.pending
		r.pending = r.pending[:0]
		_, _ = r.writeBody(p)
	}
}

func (r *response) writeStatusLine(code int) {
	bw := r.sc.bw
	bw.WriteString("HTTP/1.1 ")
	var nb [8]byte
	bw.Write(strconv.AppendInt(nb[:0], int64(code), 10))
	bw.WriteByte(' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	bw.WriteString(text)
	bw.WriteString("\r\n")
}

func (r *response) writeFields() {
	for k, vv := range r.header {
		if !validToken(k) {
			continue
		}
		for _, v := range vv {
			writeHeaderLine(r.sc.bw, k, v)
		}
	}
}

// Flush implements http.Flusher.
func (r *response) Flush() { _ = r.FlushError() }

// FlushError sends what has been written; http.ResponseController uses it
// and so learns that the client has gone.
func (r *response) FlushError() error {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	if r.err != nil {
		return r.err
	}
	if !r.committed {
		r.commit(false)
	}
	if err := r.sc.bw.Flush(); err != nil {
		r.err = err
	}
	return r.err
}

// finish completes the answer after the handler returned.
func (r *response) finish() {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	if r.err != nil {
		return
	}
	if !r.committed {
		r.commit(true)
	} else if r.chunked {
		r.sc.bw.WriteString("0\r\n\r\n")
	}
	if !r.noBody && r.length >= 0 && r.written < r.length {
		r.closeAfter = true // the answer is shorter than it said: the client must not wait
	}
	if err := r.sc.bw.Flush(); err != nil {
		r.err = err
	}
}

// hasToken reports whether the comma-separated list v holds token t.
func hasToken(v, t string) bool {
	for f := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.Trim(f, " \t"), t) {
			return true
		}
	}
	return false
}

// dateCache holds the Date field's value for the current second.
var dateCache atomic.Pointer[cachedDate]

type cachedDate struct {
	sec int64
	val string
}

// httpDate is the current time in the Date field's format, formatted once
// a second.
func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.val
	}
	d := &cachedDate{sec: now.Unix(), val: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.val
}
