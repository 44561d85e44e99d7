package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
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
