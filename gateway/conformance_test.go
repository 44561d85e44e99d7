package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
)

// TestRandomRequestStreams writes random batches of pipelined requests, of
// every framing the traffic listener reads, split at random byte
// boundaries, and checks that each answer echoes its request and that the
// connection carries on (or ends when asked to, or after a chunked body).
//
// COALMINE_PROP_SEED overrides the seed, COALMINE_PROP_ROUNDS the number of
// connections, and COALMINE_PROP_ROUND runs one round alone (each round has
// its own generator, derived from the seed and the round number).
func TestRandomRequestStreams(t *testing.T) {
	seed := uint64(20261123)
	if s := os.Getenv("COALMINE_PROP_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COALMINE_PROP_SEED: %v", err)
		}
		seed = v
	}
	rounds := envInt(t, "COALMINE_PROP_ROUNDS", 200)
	first, last := 0, rounds-1
	if s := os.Getenv("COALMINE_PROP_ROUND"); s != "" {
		first = envInt(t, "COALMINE_PROP_ROUND", 0)
		last = first
	}
	t.Logf("seed %d, rounds %d..%d (COALMINE_PROP_SEED, COALMINE_PROP_ROUNDS, COALMINE_PROP_ROUND)", seed, first, last)

	streams := streamingEchoServer(t)
	g := startGateway(t, parseConfig(t, `
routes:
  - name: echo
    stable: {version: v1, url: `+echoServer(t)+`}
  - name: chunky
    stable: {version: v1, url: `+streams+`/chunked}
  - name: sse
    stable: {version: v1, url: `+streams+`/sse}
  - name: sized
    stable: {version: v1, url: `+streams+`/sized}
`))

	sent := map[string]uint64{}
	kinds := map[string]int{}
	failures := 0
	for round := first; round <= last && failures < 5; round++ {
		r := rand.New(rand.NewPCG(seed, uint64(round)))
		batch := genBatch(r)
		answered, probed, err := runBatch(t, g.traffic, r, batch)
		if err != nil {
			failures++
			t.Errorf("seed %d round %d: %v\nbatch:\n%s", seed, round, err, describeBatch(batch))
			continue
		}
		for _, q := range batch[:answered] {
			sent[q.route]++
			kinds[q.kind]++
		}
		if probed { // the request that checks the connection carries on
			sent["echo"]++
		}
	}
	t.Logf("requests by route: %v; by kind: %v", sent, kinds)
	if failures > 0 {
		return // the counts would not add up
	}
	for _, route := range []string{"echo", "sized", "chunky", "sse"} {
		c, ok := waitCounts(t, g, route, func(c gateway.Counts) bool {
			return c.Requests == sent[route] && c.Errors == 0 && c.ClientErrors == 0
		})
		if !ok {
			t.Errorf("route %s: stats count %d requests (%d errors, %d client errors, %d canceled), %d were sent",
				route, c.Requests, c.Errors, c.ClientErrors, c.Canceled, sent[route])
		}
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// streamingEchoServer echoes like echoServer, but under /chunked with a
// chunked answer (it flushes before the body), under /sse as one
// server-sent event and under /sized with a Content-Length however long
// the answer; the path it echoes includes that first element. It waits
// X-Delay-Us microseconds before answering.
func streamingEchoServer(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if us, err := strconv.Atoi(r.Header.Get("X-Delay-Us")); err == nil {
			time.Sleep(time.Duration(us) * time.Microsecond)
		}
		echo, _ := json.Marshal(map[string]any{
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(b),
			"header": r.Header,
		})
		if strings.HasPrefix(r.URL.Path, "/sse/") {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			http.NewResponseController(w).Flush()
			_, _ = fmt.Fprintf(w, "data: %s\n\n", echo)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/sized/") {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(echo)))
			_, _ = w.Write(echo)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		half := len(echo) / 2
		_, _ = w.Write(echo[:half])
		http.NewResponseController(w).Flush()
		_, _ = w.Write(echo[half:])
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// propReq is one request of a batch and what its answer must echo.
type propReq struct {
	kind     string // for messages
	route    string // echo, sized, chunky or sse
	raw      []byte // the request; with expect, the head only
	deferred []byte // with expect, the body, sent after 100 Continue
	method   string
	expect   bool // the body waits for 100 Continue
	interim  bool // a 100 Continue may come before the answer
	closes   bool // the server must close after the answer
	mayClose bool // the server may close after the answer (HTTP/1.0 and no length)

	// what the backend must receive
	path, query, body string
	header            map[string][]string // forwarded fields, canonical names
}

// genBatch builds 1–6 requests; only the last may wait for 100 Continue
// or ask to close.
func genBatch(r *rand.Rand) []propReq {
	n := 1 + r.IntN(6)
	batch := make([]propReq, n)
	for i := range batch {
		batch[i] = genRequest(r, i == n-1)
	}
	return batch
}

// genRequest builds one random request.
func genRequest(r *rand.Rand, last bool) propReq {
	q := propReq{header: map[string][]string{}}
	// Half to echoServer, the others to streamingEchoServer.
	q.route = randFrom(r, []string{"echo", "echo", "echo", "echo", "sized", "sized", "chunky", "sse"})
	prefix := map[string]string{"echo": "", "sized": "/sized", "chunky": "/chunked", "sse": "/sse"}[q.route]

	kinds := []string{"length", "length", "get", "head"}
	if last { // a chunked body closes the connection after its answer
		kinds = append(kinds, "chunked")
	}
	kind := randFrom(r, kinds)
	q.kind = kind // with the variations added below
	http10 := kind != "chunked" && r.IntN(6) == 0
	// An HTTP/1.0 answer without a length ends with the connection, and the
	// requests after it go unanswered.
	q.mayClose = http10
	eols := randFrom(r, []string{"crlf", "crlf", "crlf", "crlf", "lf", "mixed"})
	hasBody := kind == "length" || kind == "chunked"
	q.expect = last && !http10 && hasBody && r.IntN(4) == 0
	eager := !q.expect && !http10 && hasBody && r.IntN(10) == 0 // Expect, but the body follows at once
	q.closes = last && (r.IntN(4) == 0 || kind == "chunked")

	var body []byte
	switch kind {
	case "length", "chunked":
		q.method = "POST"
		if kind == "length" {
			q.method = randFrom(r, []string{"POST", "POST", "POST", "PUT", "PATCH", "DELETE"})
		}
		body = randBody(r)
		if (q.expect || eager) && len(body) == 0 {
			body = []byte("{}") // an empty body expects nothing
		}
	case "get":
		q.method = "GET"
	case "head":
		q.method = "HEAD"
	}

	target, path, query := randTarget(r, q.route)
	q.path, q.query, q.body = prefix+path, query, jsonRoundTrip(body)

	proto := "HTTP/1.1"
	if http10 {
		proto = "HTTP/1.0"
	}
	var lines []string
	if r.IntN(12) == 0 {
		target = "http://gw" + target // the absolute form
		q.kind += "+absolute"
	}
	lines = append(lines, q.method+" "+target+" "+proto)
	if !http10 || r.IntN(2) == 0 {
		lines = append(lines, randCase(r, "Host")+": gw")
	}
	switch {
	case q.closes && http10 && r.IntN(2) == 0: // HTTP/1.0 closes by default
	case kind == "chunked" && r.IntN(2) == 0: // closes anyway
	case q.closes:
		lines = append(lines, randCase(r, "Connection")+": "+randCase(r, "close"))
	case http10:
		lines = append(lines, randCase(r, "Connection")+": "+randCase(r, "keep-alive"))
	}
	if q.route != "echo" && r.IntN(6) == 0 {
		// A slow answer: pipelined requests arrive while it is awaited and
		// the server's background read watches for a disconnect.
		us := strconv.Itoa(500 + r.IntN(9500))
		lines = append(lines, "X-Delay-Us: "+us)
		q.header["X-Delay-Us"] = []string{us}
		q.kind += "+slow"
	}
	extra := map[string][2]string{} // line: canonical name, value
	for _, f := range randHeaders(r) {
		line := randCase(r, f[0]) + ":" + pad(r) + f[1] + pad(r)
		lines = append(lines, line)
		extra[line] = f
	}
	fields, framed := frame(r, kind, body)
	lines = append(lines, fields...)
	if q.expect || eager {
		lines = append(lines, randCase(r, "Expect")+": 100-continue")
		q.interim = true
	}
	r.Shuffle(len(lines)-1, func(i, j int) { lines[i+1], lines[j+1] = lines[j+1], lines[i+1] })
	for _, l := range lines { // a field repeated keeps its order
		if f, ok := extra[l]; ok {
			q.header[f[0]] = append(q.header[f[0]], f[1])
		}
	}
	if eols != "crlf" {
		q.kind += "+" + eols
	}
	if eager {
		q.kind += "+eager-expect"
	}
	if http10 {
		q.kind += "+1.0"
	}
	if q.expect {
		q.kind += "+expect"
	}
	if q.closes {
		q.kind += "+close"
	}
	q.raw = []byte(joinHead(r, lines, eols))
	if q.expect {
		q.deferred = framed
	} else {
		q.raw = append(q.raw, framed...)
	}
	return q
}

// frame returns the fields that frame body as kind says (a length, in one
// of its valid spellings, or chunks) and the framed body.
func frame(r *rand.Rand, kind string, body []byte) (fields []string, framed []byte) {
	switch kind {
	case "length":
		n := strconv.Itoa(len(body))
		// "n, n" in one field, which RFC 9110 section 8.6 lets a
		// recipient refuse, is refused by net/http.
		switch r.IntN(8) {
		case 0:
			n = "00" + n
		case 1:
			fields = append(fields, "Content-Length: "+n) // the same length twice
		}
		return append(fields, randCase(r, "Content-Length")+": "+n), body
	case "chunked":
		return []string{randCase(r, "Transfer-Encoding") + ": " + randCase(r, "chunked")}, chunk(r, body)
	}
	return nil, nil
}

// joinHead ends each line and the head with CRLF, a bare LF, or either
// (eols "crlf", "lf" or "mixed").
func joinHead(r *rand.Rand, lines []string, eols string) string {
	var head strings.Builder
	for _, l := range append(lines, "") {
		head.WriteString(l)
		switch eols {
		case "crlf":
			head.WriteString("\r\n")
		case "lf":
			head.WriteString("\n")
		default:
			head.WriteString(randFrom(r, []string{"\r\n", "\n"}))
		}
	}
	return head.String()
}

// randTarget returns a request target for route and the path (decoded)
// and raw query the backend must see.
func randTarget(r *rand.Rand, route string) (target, path, query string) {
	segs := []string{"v1"}
	for range r.IntN(3) {
		segs = append(segs, randFrom(r, []string{"chat", "completions", "models", "a-b_c.d~e", "x%20y", "%41bc", "caf%C3%A9", "7", "embeddings"}))
	}
	escaped := "/" + strings.Join(segs, "/")
	if r.IntN(8) == 0 {
		escaped += "/" // a trailing slash
	}
	path, _ = url.PathUnescape(escaped)
	target = "/" + route + escaped
	if r.IntN(2) == 0 {
		var parts []string
		for range 1 + r.IntN(4) {
			key := randFrom(r, []string{"a", "x", "key", "%20", "%2F", "%3D", "%26", "+", "%e2%82%ac", "1", "b=c", "="})
			value := randFrom(r, []string{"", "1", "v%20w", "a+b", "%25", "%3F", "z"})
			parts = append(parts, key+"="+value)
		}
		query = strings.Join(parts, "&")
		target += "?" + query
	} else if r.IntN(10) == 0 {
		target += "?" // an empty query
	}
	return target, path, query
}

// randBody returns an empty, JSON-ish or binary body, sometimes asking for
// a stream, of a few bytes to a few tens of kilobytes.
func randBody(r *rand.Rand) []byte {
	switch r.IntN(6) {
	case 0:
		return nil
	case 1: // bytes of every value
		b := make([]byte, r.IntN(300))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	case 2: // JSON that asks for a stream
		return []byte(chatBody(randText(r, r.IntN(200)), r.IntN(2) == 0, randText(r, 5)))
	default:
		size := r.IntN(400)
		if r.IntN(10) == 0 {
			size = 1000 + r.IntN(70<<10) // crosses the servers' read buffers
		}
		b := []byte(`{"model":"m","messages":[{"role":"user","content":"` + randText(r, size) + `"}]`)
		if r.IntN(4) == 0 {
			b = append(b, `,"stream":false`...)
		}
		return append(b, '}')
	}
}

// randText is printable text that includes JSON's and HTTP's special
// characters.
func randText(r *rand.Rand, n int) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \t:;,.\\/{}[]<>&%#@!?=+-_'`\r\n"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

// randHeaders returns a few extra fields (canonical name, value), with
// values of visible characters and inner spaces, or empty.
func randHeaders(r *rand.Rand) [][2]string {
	names := []string{"X-Session-Id", "X-User-Id", "X-Request-Id", "Accept", "User-Agent", "Openai-Project", "X-Trace-Token", "Content-Type"}
	var h [][2]string
	for range r.IntN(5) {
		v := make([]byte, r.IntN(40)) // sometimes empty
		for i := range v {
			if i > 0 && i < len(v)-1 && r.IntN(8) == 0 {
				v[i] = " \t"[r.IntN(2)]
			} else {
				v[i] = byte('!' + r.IntN('~'-'!'+1))
			}
		}
		name := randFrom(r, names)
		if name == "User-Agent" && (len(v) == 0 || slices.ContainsFunc(h, func(f [2]string) bool { return f[0] == name })) {
			continue // Go's client sends one User-Agent, and none when it is empty
		}
		h = append(h, [2]string{name, string(v)}) // a name may come twice
	}
	return h
}

// chunk frames body in chunks of random sizes, with hex digits of either
// case, sometimes leading zeros and chunk extensions.
func chunk(r *rand.Rand, body []byte) []byte {
	var b []byte
	for len(body) > 0 {
		n := min(len(body), 1+r.IntN(max(1, len(body)/2+8)))
		size := strconv.FormatInt(int64(n), 16)
		if r.IntN(2) == 0 {
			size = strings.ToUpper(size)
		}
		if r.IntN(6) == 0 {
			size = "00" + size
		}
		b = append(b, size...)
		b = append(b, chunkExt(r)...)
		b = append(b, "\r\n"...)
		b = append(b, body[:n]...)
		b = append(b, "\r\n"...)
		body = body[n:]
	}
	b = append(b, '0')
	b = append(b, chunkExt(r)...)
	b = append(b, "\r\n"...)
	if r.IntN(6) == 0 { // a trailer section
		b = append(b, "X-Checksum: abc\r\n"...)
		if r.IntN(2) == 0 {
			b = append(b, "x-more:1 2\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}

func chunkExt(r *rand.Rand) string {
	switch r.IntN(5) {
	case 0:
		return ";foo=bar"
	case 1:
		return `;name="quoted value";x`
	}
	return ""
}

// randCase changes the case of some letters.
func randCase(r *rand.Rand, s string) string {
	b := []byte(s)
	for i, c := range b {
		if r.IntN(4) == 0 {
			switch {
			case 'a' <= c && c <= 'z':
				b[i] = c - 'a' + 'A'
			case 'A' <= c && c <= 'Z':
				b[i] = c - 'A' + 'a'
			}
		}
	}
	return string(b)
}

// pad is optional white space around a field value.
func pad(r *rand.Rand) string {
	return randFrom(r, []string{"", "", " ", "  ", "\t", " \t"})
}

func randFrom(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

// jsonRoundTrip is what the echo server's JSON makes of a body: invalid
// UTF-8 becomes U+FFFD.
func jsonRoundTrip(b []byte) string {
	j, _ := json.Marshal(string(b))
	var s string
	_ = json.Unmarshal(j, &s)
	return s
}

// runBatch writes the batch in random pieces while it reads and checks
// the answers; then it checks that the connection ends, or carries another
// request.
func runBatch(t *testing.T, traffic string, r *rand.Rand, batch []propReq) (answered int, probed bool, err error) {
	c, err := net.Dial("tcp", strings.TrimPrefix(traffic, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)

	var stream []byte
	for _, q := range batch {
		stream = append(stream, q.raw...)
	}
	pieces := split(r, stream)
	lastQ := batch[len(batch)-1]
	var deferredPieces [][]byte
	if lastQ.expect {
		deferredPieces = split(r, lastQ.deferred)
	}
	pauses := r.IntN(3) == 0
	continued, stop := make(chan struct{}), make(chan struct{})
	defer close(stop)
	written := make(chan error, 1)
	go func() {
		write := func(ps [][]byte) error {
			for _, p := range ps {
				if _, err := c.Write(p); err != nil {
					return err
				}
				if pauses {
					time.Sleep(time.Duration(min(len(p), 200)) * time.Microsecond)
				}
			}
			return nil
		}
		err := write(pieces)
		if err == nil && lastQ.expect {
			select {
			case <-continued:
				err = write(deferredPieces)
			case <-stop:
			case <-time.After(5 * time.Second):
				err = fmt.Errorf("no 100 Continue")
			}
		}
		written <- err
	}()

	closed := false
	for i, q := range batch {
		if q.expect {
			resp, err := http.ReadResponse(br, &http.Request{Method: q.method})
			if err != nil {
				return 0, false, fmt.Errorf("request %d (%s): reading the interim answer: %v", i, q.kind, err)
			}
			if resp.StatusCode != 100 {
				b, _ := io.ReadAll(resp.Body)
				return 0, false, fmt.Errorf("request %d (%s): answer %d %q before 100 Continue", i, q.kind, resp.StatusCode, b)
			}
			close(continued)
		}
		if q.interim && !q.expect {
			if err := skipContinue(br); err != nil {
				return 0, false, fmt.Errorf("request %d (%s): %v", i, q.kind, err)
			}
		}
		resp, err := checkAnswer(br, q)
		if err != nil {
			return 0, false, fmt.Errorf("request %d (%s): %v", i, q.kind, err)
		}
		answered = i + 1
		if resp.Close { // checkAnswer has checked that it may
			closed = true
			break
		}
	}
	if closed {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if b, err := br.ReadByte(); err != io.EOF {
			return 0, false, fmt.Errorf("after an answer that said close, read %q, %v; want EOF", b, err)
		}
		return answered, false, nil // what was still being written may fail
	}
	if err := <-written; err != nil {
		return 0, false, fmt.Errorf("writing: %v", err)
	}
	// The connection carries on.
	probe := propReq{kind: "probe", route: "echo", method: "GET", path: "/v1/probe", header: map[string][]string{}}
	if _, err := io.WriteString(c, "GET /echo/v1/probe HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
		return 0, false, fmt.Errorf("writing a probe after the batch: %v", err)
	}
	if _, err := checkAnswer(br, probe); err != nil {
		return 0, false, fmt.Errorf("probe after the batch: %v", err)
	}
	return answered, true, nil
}

// skipContinue reads a 100 Continue answer if one comes next.
func skipContinue(br *bufio.Reader) error {
	b, err := br.Peek(12)
	if err != nil {
		return fmt.Errorf("reading the answer: %v", err)
	}
	if string(b) != "HTTP/1.1 100" {
		return nil
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: "POST"})
	if err != nil {
		return fmt.Errorf("reading the interim answer: %v", err)
	}
	if resp.StatusCode != 100 {
		return fmt.Errorf("interim answer %d", resp.StatusCode)
	}
	return nil
}

// split cuts b into 1–8 pieces at random boundaries.
func split(r *rand.Rand, b []byte) [][]byte {
	if len(b) == 0 {
		return nil
	}
	cuts := []int{0, len(b)}
	for range r.IntN(8) {
		cuts = append(cuts, r.IntN(len(b)))
	}
	if r.IntN(3) == 0 { // a cut at a line break, where a head may seem to end
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			cuts = append(cuts, i+1)
		}
	}
	slices.Sort(cuts)
	var out [][]byte
	for i := 1; i < len(cuts); i++ {
		if cuts[i] > cuts[i-1] {
			out = append(out, b[cuts[i-1]:cuts[i]])
		}
	}
	return out
}

// echoed is what the echo backends answer.
type echoed struct {
	Method, Path, Query, Body string
	Header                    map[string][]string
}

// checkAnswer reads one answer and checks it against q.
func checkAnswer(br *bufio.Reader, q propReq) (*http.Response, error) {
	resp, err := http.ReadResponse(br, &http.Request{Method: q.method})
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, fmt.Errorf("reading the answer's body (status %d): %v", resp.StatusCode, err)
	}
	if resp.StatusCode != 200 {
		return resp, fmt.Errorf("status %d, want 200; body %q", resp.StatusCode, b)
	}
	if v := resp.Header.Get(gateway.HeaderVersion); v != "v1" {
		return resp, fmt.Errorf("%s %q, want v1", gateway.HeaderVersion, v)
	}
	if q.closes != resp.Close && !(q.mayClose && resp.Close && resp.ContentLength < 0) {
		return resp, fmt.Errorf("the answer says close=%v, want %v", resp.Close, q.closes)
	}
	if q.method == "HEAD" {
		if len(b) != 0 {
			return resp, fmt.Errorf("HEAD answered with a body %q", b)
		}
		return resp, nil
	}
	if q.route == "sse" {
		rest, ok := bytes.CutPrefix(b, []byte("data: "))
		if !ok {
			return resp, fmt.Errorf("event stream %q does not start with data", b)
		}
		b = rest
	}
	var e echoed
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&e); err != nil {
		return resp, fmt.Errorf("answer %q: %v", b, err)
	}
	var diffs []string
	for _, d := range [][3]string{{"method", e.Method, q.method}, {"path", e.Path, q.path}, {"query", e.Query, q.query}, {"body", e.Body, q.body}} {
		if d[1] != d[2] {
			diffs = append(diffs, fmt.Sprintf("%s %q, want %q", d[0], truncate(d[1]), truncate(d[2])))
		}
	}
	for k, v := range q.header {
		if got := e.Header[k]; !slices.Equal(got, v) {
			diffs = append(diffs, fmt.Sprintf("header %s %q, want %q", k, got, v))
		}
	}
	if len(diffs) > 0 {
		return resp, fmt.Errorf("the backend got something else: %s", strings.Join(diffs, "; "))
	}
	return resp, nil
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…(" + strconv.Itoa(len(s)) + " bytes)"
	}
	return s
}

func describeBatch(batch []propReq) string {
	var sb strings.Builder
	for i, q := range batch {
		raw := append(append([]byte(nil), q.raw...), q.deferred...)
		fmt.Fprintf(&sb, "  %d %s to %s: %s\n", i, q.kind, q.route, truncate(strconv.Quote(string(raw))))
	}
	return sb.String()
}
