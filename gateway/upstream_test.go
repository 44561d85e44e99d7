package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestWriteRequestLikeRequestWrite checks that writeRequest sends what
// http.Request.Write sends, up to the order of header fields.
func TestWriteRequestLikeRequestWrite(t *testing.T) {
	body := []byte(`{"model":"m"}`)
	for _, tc := range []struct {
		name, method, target string
		header               http.Header
		body                 []byte
	}{
		{"post", http.MethodPost, "http://127.0.0.1:8080/v1/chat/completions?a=b", http.Header{
			"Content-Type": {"application/json"}, "X-Session-Id": {"s1"}, "Content-Length": {"999"},
			"Accept": {"a", "b"}, "X-Spaced": {"  v \r\n w "}}, body},
		{"empty post", http.MethodPost, "http://backend/x", http.Header{}, nil},
		{"get", http.MethodGet, "http://backend:81/x%2Fy/z", http.Header{"User-Agent": {"curl/8", "other"}}, nil},
		{"delete", http.MethodDelete, "http://backend/", http.Header{"User-Agent": {""}}, nil},
		{"bad name", http.MethodPut, "http://backend/p", http.Header{"Bad Name": {"x"}, "Trailer": {"t"}}, body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			mk := func() *http.Request {
				r := &http.Request{Method: tc.method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
					Header: tc.header, Host: u.Host}
				if len(tc.body) > 0 {
					r.Body = io.NopCloser(bytes.NewReader(tc.body))
					r.ContentLength = int64(len(tc.body))
				}
				return r
			}
			var want, got bytes.Buffer
			if err := mk().Write(&want); err != nil {
				t.Fatal(err)
			}
			bw := bufio.NewWriter(&got)
			if err := writeRequest(bw, mk()); err != nil {
				t.Fatal(err)
			}
			_ = bw.Flush()
			if got.Len() != want.Len() {
				t.Errorf("length %d, want %d:\n%s\nwant:\n%s", got.Len(), want.Len(), got.String(), want.String())
			}
			wantLines, gotLines := splitRequest(t, want.String()), splitRequest(t, got.String())
			if !reflect.DeepEqual(gotLines, wantLines) {
				t.Errorf("got\n%q\nwant\n%q", gotLines, wantLines)
			}
		})
	}
}

// splitRequest returns the request line, the sorted header lines and the
// body.
func splitRequest(t *testing.T, s string) []string {
	head, body, ok := strings.Cut(s, "\r\n\r\n")
	if !ok {
		t.Fatalf("no end of header in %q", s)
	}
	lines := strings.Split(head, "\r\n")
	fields := lines[1:]
	slices.Sort(fields)
	return append(append([]string{lines[0]}, fields...), body)
}

// TestReadHeadLikeReadResponse checks that readHead either reads a response
// as http.ReadResponse does or leaves it, unread, to http.ReadResponse.
func TestReadHeadLikeReadResponse(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		fast      bool
	}{
		{"json", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\nDate: x\r\nx-lower:  a b \r\nSet-Cookie: a\r\nSet-Cookie: b\r\n\r\nhello", true},
		{"no reason", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false},
		{"close", "HTTP/1.1 200 OK\r\nConnection: close, X-A\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhello", false},
		{"until close", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n", false},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", false},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", false},
		{"folded", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 5\r\n\r\nhello", false},
		{"bad name", "HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 5\r\n\r\nhello", false},
		{"no content", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", false},
		{"informational", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", false},
		{"incomplete", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "http://backend/x", nil)
			br := bufio.NewReaderSize(strings.NewReader(tc.raw), 4096)
			got, n, err := readHead(br, req)
			if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != tc.fast {
				t.Fatalf("parsed: %v, want %v", got != nil, tc.fast)
			}
			if got == nil {
				if br.Buffered() != len(tc.raw) {
					t.Fatalf("consumed %d bytes without parsing", len(tc.raw)-br.Buffered())
				}
				return
			}
			want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tc.raw)), req)
			if err != nil {
				t.Fatal(err)
			}
			wantBody, _ := io.ReadAll(want.Body)
			gotBody := make([]byte, n)
			if _, err := io.ReadFull(br, gotBody); err != nil {
				t.Fatal(err)
			}
			if got.Status != want.Status || got.StatusCode != want.StatusCode || got.Proto != want.Proto ||
				got.ContentLength != want.ContentLength || got.Close != want.Close ||
				!reflect.DeepEqual(got.Header, want.Header) || string(gotBody) != string(wantBody) {
				t.Errorf("got %+v %q\nwant %+v %q", got, gotBody, want, wantBody)
			}
		})
	}
}

// TestCleanPathLikeServeMux checks cleanPath against path.Clean as
// http.ServeMux applies it.
func TestCleanPathLikeServeMux(t *testing.T) {
	for _, p := range []string{"/", "/a", "/a/", "/a/b/c", "//", "/a//b", "/a/./b", "/a/../b", "/a/.", "/a/..",
		"/.", "/..", "/...", "/a/.b", "/a/b..", "", "a", "*", "/v1/chat/completions", "/a/b/", "/a/b//"} {
		want := p != "" && p[0] == '/'
		if want {
			np := path.Clean(p)
			if p[len(p)-1] == '/' && np != "/" {
				np += "/"
			}
			want = np == p
		}
		if got := cleanPath(p); got != want {
			t.Errorf("cleanPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestRepeatable checks the rule for sending a failed request again: only
// after a kept-alive connection broke before any answer, and only when none
// of the request left or repeating it is safe.
func TestRepeatable(t *testing.T) {
	key := http.Header{"Idempotency-Key": {"k"}}
	tests := []struct {
		name                   string
		reused, answered, sent bool
		method                 string
		header                 http.Header
		err                    error
		want                   bool
	}{
		{"POST not yet sent", true, false, false, "POST", nil, io.EOF, true},
		{"POST sent", true, false, true, "POST", nil, io.EOF, false},
		{"POST sent, with a key", true, false, true, "POST", key, io.EOF, true},
		{"POST sent, with an X- key", true, false, true, "POST", http.Header{"X-Idempotency-Key": {"k"}}, io.EOF, true},
		{"GET sent", true, false, true, "GET", nil, io.ErrUnexpectedEOF, true},
		{"PUT sent, reset", true, false, true, "PUT", nil, syscall.ECONNRESET, true},
		{"DELETE not yet sent, broken pipe", true, false, false, "DELETE", nil, syscall.EPIPE, true},
		{"PATCH sent", true, false, true, "PATCH", nil, io.EOF, false},
		{"part of an answer came", true, true, false, "GET", nil, io.ErrUnexpectedEOF, false},
		{"a fresh connection", false, false, false, "GET", nil, io.EOF, false},
		{"a timeout", true, false, false, "GET", nil, os.ErrDeadlineExceeded, false},
		{"refused", true, false, false, "GET", nil, syscall.ECONNREFUSED, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := repeatable(tt.reused, tt.answered, tt.sent, tt.method, tt.header, tt.err); got != tt.want {
				t.Errorf("repeatable = %v, want %v", got, tt.want)
			}
		})
	}
}
