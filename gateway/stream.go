package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"time"
)

// maxEventLine bounds how much of one long SSE line is kept for parsing; the
// line itself is always forwarded whole.
const maxEventLine = 1 << 20

var dataPrefix = []byte("data:")

// copyStream forwards a server-sent event stream line by line and flushes
// at the end of every event, so nothing waits for the whole body. It notes
// the time to the first data event and reads usage and tool calls from the
// chunks.
func copyStream(w http.ResponseWriter, body io.Reader, o *outcome, start time.Time) (clientGone bool, err error) {
	rc := http.NewResponseController(w)
	br := bufio.NewReaderSize(body, 32<<10)
	var long []byte // a line longer than the reader's buffer, kept for parsing
	for {
		frag, rerr := br.ReadSlice('\n')
		if len(frag) > 0 {
			if _, werr := w.Write(frag); werr != nil {
				return true, werr
			}
		}
		if rerr == bufio.ErrBufferFull {
			if len(long)+len(frag) <= maxEventLine {
				long = append(long, frag...)
			}
			continue
		}
		line := frag
		if long != nil {
			line = append(long, frag...)
			long = nil
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0 && len(frag) > 0:
			// end of an event
			if ferr := rc.Flush(); ferr != nil && ferr != http.ErrNotSupported {
				return true, ferr
			}
		case bytes.HasPrefix(line, dataPrefix):
			if o.ttft == 0 {
				o.ttft = time.Since(start)
				if o.ttft <= 0 {
					o.ttft = time.Nanosecond
				}
			}
			payload := bytes.TrimSpace(line[len(dataPrefix):])
			if bytes.Equal(payload, []byte("[DONE]")) {
				o.streamDone = true
			} else {
				parseChunk(payload, o)
			}
		}
		if rerr == io.EOF {
			if ferr := rc.Flush(); ferr != nil && ferr != http.ErrNotSupported {
				return true, ferr
			}
			return false, nil
		}
		if rerr != nil {
			return false, rerr
		}
	}
}
