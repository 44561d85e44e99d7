package gateway

import (
	"bytes"
	"io"
	"time"
)

// maxEventLine bounds how much of one long SSE line is kept for parsing; the
// line itself is always forwarded whole.
const maxEventLine = 1 << 20

// maxCapture bounds how much of a JSON answer is kept to read its usage.
const maxCapture = 8 << 20

var dataPrefix = []byte("data:")

// answerBody stands in front of a backend's answer while the proxy copies
// it to the client. It reads, without changing a byte, a server-sent event
// stream line by line (time to the first data event, usage and tool calls
// of the chunks, [DONE]) or keeps a JSON answer to read its usage and tool
// calls at the end. It notes whether the answer was read to its end and
// the error that stopped it otherwise.
type answerBody struct {
	io.ReadCloser
	o       *outcome
	start   time.Time
	sse     bool
	capture bool
	kept    []byte // the captured JSON answer, or the SSE line in progress
	long    bool   // the SSE line in progress is longer than maxEventLine
	done    bool   // read to EOF
	err     error  // what ended the read otherwise
}

// Read implements io.Reader.
func (a *answerBody) Read(p []byte) (int, error) {
	n, err := a.ReadCloser.Read(p)
	if n > 0 {
		switch {
		case a.sse:
			a.lines(p[:n])
		case a.capture && len(a.kept)+n <= maxCapture:
			a.kept = append(a.kept, p[:n]...)
		}
	}
	switch {
	case err == io.EOF:
		a.done = true
		if a.sse && len(a.kept) > 0 {
			a.line(a.kept) // a last line without its line feed
		}
		if a.capture {
			parseAnswer(a.kept, a.o)
		}
		a.kept = nil
	case err != nil && a.err == nil:
		a.err = err
	}
	return n, err
}

// lines splits what was read into lines, keeping the start of a line that
// continues in the next read.
func (a *answerBody) lines(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			a.keep(b)
			return
		}
		if len(a.kept) == 0 && !a.long {
			a.line(b[:i])
		} else {
			a.keep(b[:i])
			a.line(a.kept)
			a.kept, a.long = a.kept[:0], false
		}
		b = b[i+1:]
	}
}

func (a *answerBody) keep(b []byte) {
	if len(a.kept)+len(b) > maxEventLine {
		a.long = true
		return
	}
	a.kept = append(a.kept, b...)
}

// line reads one SSE line: a data line carries a chunk or [DONE].
func (a *answerBody) line(l []byte) {
	l = bytes.TrimSuffix(l, []byte("\r"))
	if !bytes.HasPrefix(l, dataPrefix) {
		return
	}
	o := a.o
	if o.ttft == 0 {
		o.ttft = max(time.Since(a.start), time.Nanosecond)
	}
	payload := bytes.TrimSpace(l[len(dataPrefix):])
	if bytes.Equal(payload, []byte("[DONE]")) {
		o.streamDone = true
		return
	}
	parseChunk(payload, o)
}
