//go:build linux

package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// loopServer serves the traffic listener with one event loop per processor,
// as nginx does with its workers: each loop waits on epoll for its client
// and backend connections and moves a request through reading, forwarding
// and answering without a goroutine switch, a deadline timer or a read that
// finds nothing. It carries the common exchange — a request with a body of
// known length to a plain-HTTP backend, answered with a body of known
// length — and hands everything else to trafficServer's goroutines, with
// the bytes it has read: before forwarding (streamed requests, chunked
// bodies, Expect, HTTP/1.0, HTTPS backends, health endpoints, refusals) or
// once the answer turns out to be something else (a stream, chunks, an
// informational status).
type loopServer struct {
	g       *Gateway
	ts      *trafficServer
	lim     Limits
	loops   []*loop
	next    atomic.Uint32
	closing atomic.Bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	ln      net.Listener
}

// Phases of a client connection on a loop.
const (
	phaseIdle     = iota // waiting for a request
	phaseHead            // part of a head has arrived
	phaseBody            // the head is read; the body is arriving
	phaseUpstream        // forwarded; waiting for the backend's answer
	phaseWrite           // the answer is being written
	phaseLinger          // answered and closing: discarding what still arrives
)

// lingerTime is how long a connection closing after its answer waits for
// the client to close too; see loopClient.linger.
const lingerTime = 500 * time.Millisecond

// loopSweep is how often a loop checks its connections' timeouts; timeouts
// are kept to within this.
const loopSweep = 100 * time.Millisecond

// maxLoopAnswer is the largest answer a loop holds in memory; a longer one
// is handed over and copied by a goroutine.
const maxLoopAnswer = 1 << 20

func newLoopServer(g *Gateway, ts *trafficServer) (*loopServer, error) {
	s := &loopServer{g: g, ts: ts, lim: ts.lim}
	n := g.cfg.EventLoops
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	for range n {
		l, err := newLoop(s)
		if err != nil {
			for _, l := range s.loops {
				l.closeFDs()
			}
			return nil, err
		}
		s.loops = append(s.loops, l)
	}
	for _, l := range s.loops {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			l.run()
		}()
	}
	return s, nil
}

// Serve accepts connections on ln and gives each to a loop until Shutdown or
// Close; it then returns http.ErrServerClosed.
func (s *loopServer) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	if s.closing.Load() {
		ln.Close()
		return http.ErrServerClosed
	}
	return acceptConns(ln, &s.closing, s.g.log, func(c net.Conn) {
		fd, err := dupFD(c)
		if err != nil { // serve it the ordinary way
			if sc := s.ts.adopt(c, nil); sc != nil {
				go sc.serve()
			}
			return
		}
		remote := c.RemoteAddr().String()
		c.Close()
		l := s.loops[s.next.Add(1)%uint32(len(s.loops))]
		if !l.post(func() { l.addClient(fd, remote) }) {
			unix.Close(fd)
		}
	})
}

// stopAccepting marks the server closing and closes its listener.
func (s *loopServer) stopAccepting() {
	s.closing.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections, lets requests in
// flight finish and waits for every connection (on the loops and handed
// over) to end, or for ctx.
func (s *loopServer) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	for _, l := range s.loops {
		_ = l.post(l.startClosing)
	}
	// The goroutine server drains meanwhile (its idle connections close,
	// answers end their connections) but still takes what the loops hand
	// over until they have ended.
	s.ts.drain()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		s.ts.closeIdle()
		select {
		case <-done:
			waiting = false
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.ts.Shutdown(ctx)
}

// Close ends every connection at once.
func (s *loopServer) Close() {
	s.stopAccepting()
	for _, l := range s.loops {
		_ = l.post(l.closeAll)
	}
	s.ts.Close()
}

// dupFD returns a duplicate of c's socket, non-blocking like the original.
func dupFD(c net.Conn) (int, error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return -1, errors.New("not a TCP connection")
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	return fd, derr
}

// fileConn turns a socket the loop owned into a net.Conn for a goroutine;
// fd is closed.
func fileConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "")
	defer f.Close()
	return net.FileConn(f)
}

// loop is one event loop.
type loop struct {
	s      *loopServer
	g      *Gateway
	epfd   int
	file   *os.File        // epfd, for the runtime's poller
	rc     syscall.RawConn // of file
	wakefd int
	events [128]unix.EpollEvent

	mu      sync.Mutex
	tasks   []func() // to run on the loop, from other goroutines
	stopped bool     // the loop has ended; its descriptors are closed

	fds       []loopConn // by descriptor number; nil where none
	clients   int
	idle      map[string][]*loopUpstream // by host:port, most recent last
	closing   bool
	lastSweep time.Time
	now       time.Time
}

// loopConn is a connection a loop waits on.
type loopConn interface {
	event(ev uint32)
	sweep(now time.Time)
}

func newLoop(s *loopServer) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	l := &loop{s: s, g: s.g, epfd: epfd, wakefd: wakefd, idle: map[string][]*loopUpstream{}}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, err
	}
	// The runtime's poller watches the epoll descriptor (see wait).
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, err
	}
	l.file = os.NewFile(uintptr(epfd), "epoll")
	rc, err := l.file.SyscallConn()
	if err == nil {
		err = l.file.SetReadDeadline(time.Now().Add(loopSweep))
	}
	if err != nil {
		l.closeFDs()
		return nil, fmt.Errorf("watch the event loop's epoll descriptor: %w", err)
	}
	l.rc = rc
	return l, nil
}

func (l *loop) closeFDs() {
	l.file.Close()
	unix.Close(l.wakefd)
}

// post runs f on the loop; it reports false, and f does not run, when the
// loop has ended.
func (l *loop) post(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.tasks = append(l.tasks, f)
	one := [8]byte{1}
	_, _ = unix.Write(l.wakefd, one[:])
	return true
}

func (l *loop) run() {
	defer func() {
		l.mu.Lock()
		l.stopped = true
		tasks := l.tasks
		l.tasks = nil
		l.closeFDs()
		l.mu.Unlock()
		// Tasks posted after the last look: with closing set they close the
		// descriptors they carry.
		l.closing = true
		for _, f := range tasks {
			f()
		}
	}()
	l.lastSweep = time.Now()
	for {
		n, err := l.wait()
		if err != nil && err != unix.EINTR {
			l.g.log.Error("event loop stopped", "err", err)
			l.closeAll()
			return
		}
		l.now = time.Now()
		for i := 0; i < n; i++ {
			ev := &l.events[i]
			if int(ev.Fd) == l.wakefd {
				l.runTasks()
				continue
			}
			if c := l.conn(int(ev.Fd)); c != nil {
				c.event(ev.Events)
			}
		}
		if l.now.Sub(l.lastSweep) >= loopSweep {
			l.lastSweep = l.now
			for _, c := range l.fds {
				if c != nil {
					c.sweep(l.now)
				}
			}
		}
		if l.closing && l.clients == 0 {
			for _, c := range l.fds {
				if u, ok := c.(*loopUpstream); ok {
					u.close()
				}
			}
			return
		}
	}
}

// wait returns the next events. It looks with a raw, non-blocking system
// call, which leaves the runtime nothing to do: a loop never sits in a
// system call holding its processor (the runtime would hand the processor
// off and its monitor thread would keep waking every 20 µs to do so). When
// there is nothing, the loop parks in the runtime's own poller, which
// watches the epoll descriptor like any socket, until an event or the next
// sweep.
func (l *loop) wait() (int, error) {
	var n int
	var werr error
	err := l.rc.Read(func(uintptr) bool {
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.epfd), uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), 0, 0, 0)
		if e != 0 {
			if e == unix.EINTR {
				return false // look again once woken
			}
			werr = e
			return true
		}
		n = int(r)
		return n > 0
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		_ = l.file.SetReadDeadline(time.Now().Add(loopSweep))
		return 0, nil
	}
	if err == nil {
		err = werr
	}
	return n, err
}

// rawRead and rawWrite are read and write on a non-blocking socket, which
// return at once, without telling the scheduler of a system call (see wait).
func rawRead(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func (l *loop) runTasks() {
	var buf [8]byte
	_, _ = unix.Read(l.wakefd, buf[:])
	l.mu.Lock()
	tasks := l.tasks
	l.tasks = nil
	l.mu.Unlock()
	for _, f := range tasks {
		f()
	}
}

func (l *loop) watch(fd int, c loopConn, events uint32) bool {
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
		unix.Close(fd)
		return false
	}
	if fd >= len(l.fds) {
		l.fds = append(l.fds, make([]loopConn, fd+1-len(l.fds))...)
	}
	l.fds[fd] = c
	return true
}

func (l *loop) conn(fd int) loopConn {
	if fd < 0 || fd >= len(l.fds) {
		return nil
	}
	return l.fds[fd]
}

func (l *loop) modify(fd int, events uint32) {
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)})
}

// forget stops watching fd, which stays open.
func (l *loop) forget(fd int) {
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	if fd < len(l.fds) {
		l.fds[fd] = nil
	}
}

func (l *loop) addClient(fd int, remote string) {
	if l.closing {
		unix.Close(fd)
		return
	}
	c := &loopClient{l: l, fd: fd, remote: remote, since: time.Now(), first: true}
	if l.watch(fd, c, unix.EPOLLIN|unix.EPOLLRDHUP) {
		l.clients++
	}
}

// startClosing makes the loop end once its clients have: idle ones now,
// the others after their answers.
func (l *loop) startClosing() {
	l.closing = true
	for _, c := range l.fds {
		if cl, ok := c.(*loopClient); ok && cl.phase == phaseIdle {
			cl.close()
		}
	}
}

func (l *loop) closeAll() {
	l.closing = true
	for _, c := range l.fds {
		switch c := c.(type) {
		case *loopClient:
			c.gone()
		case *loopUpstream:
			c.close()
		}
	}
}

// loopClient is a client connection on a loop.
type loopClient struct {
	l          *loop
	fd         int
	remote     string
	in         []byte // read and not yet used
	out        []byte // the answer being written
	outOff     int
	phase      int
	since      time.Time // of the phase, for its timeout
	first      bool      // no request yet: the header timeout bounds the wait
	closed     bool
	wOut       bool // EPOLLOUT is asked for
	bigIn      bool // in has grown past 64 KiB; dropped once empty
	halfClosed bool // the client closed its side after sending ahead
	scanned    int  // how much of a head in was searched for its end
	paused     bool // EPOLLIN is not asked for: too much has arrived ahead
	upBuf      bytes.Buffer
	seq        uint64 // requests forwarded on this connection

	// the request in progress
	start   time.Time
	headLen int
	req     *http.Request
	be      *backend
	outReq  *http.Request
	upBytes []byte // the forwarded request, kept for a retry
	up      *loopUpstream
	retried bool
	ans     plainHead // the head of the answer, once scanned
	hasAns  bool
}

func (c *loopClient) event(ev uint32) {
	if c.phase == phaseLinger {
		c.discard()
		return
	}
	if c.halfClosed && ev&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.gone() // it stopped reading too
		return
	}
	if c.paused && !c.halfClosed && ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.gone() // not reading, so the hang-up would be reported again and again
		return
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		if !c.read() {
			return
		}
		c.advance()
	}
	if c.closed {
		return
	}
	if ev&unix.EPOLLOUT != 0 && c.phase == phaseWrite {
		c.flush()
	}
}

// read reads what has arrived; false when the client has gone (and the
// connection is closed).
func (c *loopClient) read() bool {
	limit := c.l.s.lim.MaxHeaderBytes + headSlack + int(c.l.s.lim.MaxBodyBytes) + 64<<10
	if len(c.in) >= limit {
		// A client that sends far ahead of the answers waits: nothing is read
		// until the answer in progress is written.
		c.paused = true
		c.l.modify(c.fd, c.events())
		return true
	}
	if cap(c.in)-len(c.in) < 2048 {
		n := make([]byte, len(c.in), max(4096, 2*cap(c.in)))
		copy(n, c.in)
		c.in = n
	}
	n, err := rawRead(c.fd, c.in[len(c.in):cap(c.in)])
	if err == unix.EAGAIN || err == unix.EINTR {
		return true
	}
	if n <= 0 {
		if err == nil && len(c.in) > 0 && (c.phase == phaseUpstream || c.phase == phaseWrite) {
			// The client sent its next request and then closed its sending
			// side: it still reads. The answer in progress goes out, and
			// then the connection ends (as on net/http's server, which
			// answers that request and cancels the next).
			c.halfClosed, c.paused = true, true
			c.l.modify(c.fd, c.events())
			return true
		}
		c.gone()
		return false
	}
	if cap(c.in) > 64<<10 {
		c.bigIn = true
	}
	c.in = c.in[:len(c.in)+n]
	return true
}

func (c *loopClient) events() uint32 {
	var ev uint32
	if !c.halfClosed {
		ev |= unix.EPOLLRDHUP
	}
	if !c.paused {
		ev |= unix.EPOLLIN
	}
	if c.wOut {
		ev |= unix.EPOLLOUT
	}
	return ev
}

// gone handles a client that closed its connection or broke it.
func (c *loopClient) gone() {
	if c.phase == phaseUpstream { // dialling or waiting for the answer
		o := outcome{canceled: true, latency: time.Since(c.start)}
		c.be.series.record(&o, c.be.price, time.Now())
	}
	c.close() // and the backend connection, if there is one
}

func (c *loopClient) close() {
	if c.closed {
		return
	}
	c.closed = true
	c.l.forget(c.fd)
	unix.Close(c.fd)
	c.l.clients--
	if c.up != nil && c.phase == phaseUpstream {
		c.up.close()
	}
}

// advance moves the connection on with what has arrived.
func (c *loopClient) advance() {
	for !c.closed {
		switch c.phase {
		case phaseIdle, phaseHead:
			if !c.parseHead() {
				return
			}
		case phaseBody:
			if !c.forward() {
				return
			}
		default:
			return // pipelined bytes wait for the answer in progress
		}
	}
}

var (
	crlf2 = []byte("\r\n\r\n")
	crlf  = []byte("\r\n")
	lf    = []byte("\n")
)

// headEnd returns the length of the head at the start of b, through its
// first empty line (ended by CRLF or a bare LF), or -1 when b has none;
// the search starts at from (b[:from] has no empty line).
func headEnd(b []byte, from int) int {
	for i := from; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
}

// parseHead parses a whole head; it reports whether the request moved on.
func (c *loopClient) parseHead() bool {
	if len(c.in) == 0 {
		return false
	}
	lim := c.l.s.lim
	if c.phase == phaseIdle {
		c.phase, c.since = phaseHead, c.l.now
	}
	// The head ends at the first empty line, as the goroutine server reads
	// it; one with a bare line feed anywhere is that server's to read.
	n := headEnd(c.in, max(0, c.scanned-3))
	c.scanned = len(c.in) // a head that has not ended is not searched again from its start
	if n < 0 {
		if c.in[0] == '\r' || c.in[0] == '\n' || len(c.in) > lim.MaxHeaderBytes+headSlack {
			c.handOver() // leading empty lines, or a head too large to refuse here
		}
		return false
	}
	if c.in[0] == '\r' || c.in[0] == '\n' || n > lim.MaxHeaderBytes+headSlack ||
		bytes.Count(c.in[:n], lf) != bytes.Count(c.in[:n], crlf) {
		c.handOver()
		return false
	}
	end := n - 4
	req, fr, err := parseRequest(string(c.in[:end+4]), c.remote)
	if err != nil || fr.chunked || fr.expectContinue || req.ProtoMinor == 0 ||
		req.Method == http.MethodHead || req.ContentLength > lim.MaxBodyBytes || !plainRoute(req) {
		c.handOver()
		return false
	}
	c.start, c.req, c.headLen, c.scanned = c.l.now, req, end+4, 0
	c.phase = phaseBody
	return true
}

// plainRoute reports whether trafficHandler would send r straight to
// serveTraffic (not to the health endpoints or the mux).
func plainRoute(r *http.Request) bool {
	p := r.URL.EscapedPath()
	return p != "/healthz" && p != "/readyz" && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && cleanPath(p)
}

var streamKey = []byte(`"stream"`)

// forward sends a request whose body has arrived to its backend.
func (c *loopClient) forward() bool {
	n := c.headLen + int(max(c.req.ContentLength, 0))
	if len(c.in) < n {
		return false
	}
	g := c.l.g
	req := c.req
	body := c.in[c.headLen:n]
	rt, path := g.table.Load().match(req, req.URL.EscapedPath())
	if rt == nil || bytes.Contains(body, streamKey) {
		c.handOver()
		return false
	}
	be := rt.pick(req, body, c.start)
	if be.url.Scheme != "http" {
		c.handOver()
		return false
	}
	out, err := outRequest(context.Background(), be, req.Method, path, req.URL.RawQuery, req.Header, body, c.remote)
	if err != nil {
		c.handOver()
		return false
	}
	buf := &c.upBuf
	buf.Reset()
	if err := writeRequest(buf, out); err != nil {
		c.handOver()
		return false
	}
	if be.role == RoleStable && rt.canary != nil && rt.state.ShadowBP > 0 && rand.IntN(MaxBasisPoints) < rt.state.ShadowBP {
		g.shadow.enqueue(shadowJob{
			be: rt.canary, method: req.Method, path: path, query: req.URL.RawQuery,
			header: req.Header, body: bytes.Clone(body),
		})
	}
	c.in = c.in[n:]
	c.seq++ // a dial for an earlier request is not this one's
	c.be, c.outReq, c.upBytes, c.retried = be, out, buf.Bytes(), false
	c.hasAns = false
	c.phase, c.since = phaseUpstream, c.l.now
	c.connect(false)
	return true
}

// connect finds or dials a backend connection and sends the request; fresh
// asks for a new connection (a retry after a stale one).
func (c *loopClient) connect(fresh bool) {
	addr := c.outReq.URL.Host
	if c.outReq.URL.Port() == "" {
		addr += ":80"
	}
	if !fresh {
		if u := c.l.takeIdle(addr); u != nil {
			c.send(u, true)
			return
		}
	}
	l, g, seq := c.l, c.l.g, c.seq
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), g.cfg.Limits.ConnectTimeout.D())
		defer cancel()
		nc, err := g.upstream.dialer.DialContext(ctx, "tcp", addr)
		fd := -1
		if err == nil {
			fd, err = dupFD(nc)
			nc.Close()
		}
		posted := l.post(func() {
			if c.closed || c.seq != seq || c.phase != phaseUpstream || c.up != nil {
				if fd >= 0 {
					unix.Close(fd)
				}
				return
			}
			if err != nil {
				c.fail(err)
				return
			}
			u := &loopUpstream{l: l, fd: fd, addr: addr}
			if !l.watch(fd, u, unix.EPOLLIN|unix.EPOLLRDHUP) {
				c.fail(errors.New("cannot watch the backend connection"))
				return
			}
			c.send(u, false)
		})
		if !posted && fd >= 0 {
			unix.Close(fd)
		}
	}()
}

func (c *loopClient) send(u *loopUpstream, reused bool) {
	u.owner, u.reused, u.in, u.out, u.outOff = c, reused, u.in[:0], c.upBytes, 0
	c.up = u
	c.since = c.l.now // the upstream timeout runs from here, as on the goroutine server
	u.flush()
}

// fail answers a request whose backend could not be reached or broke.
func (c *loopClient) fail(err error) {
	u := c.up
	if u != nil {
		if !c.retried && repeatable(u.reused, len(u.in) > 0, u.outOff > 0, c.outReq.Method, c.outReq.Header, err) {
			u.close()
			c.up, c.retried = nil, true
			c.connect(true)
			return
		}
		u.close()
		c.up = nil
	}
	o := outcome{latency: time.Since(c.start)}
	status, msg := http.StatusBadGateway, "upstream "+c.be.Version+" unreachable"
	if isTimeout(err) {
		status, msg, o.timeout = http.StatusGatewayTimeout, "upstream "+c.be.Version+" timed out", true
	} else {
		o.connFailure = true
	}
	o.status = status
	c.be.series.record(&o, c.be.price, time.Now())
	c.respondError(status, msg)
}

// respondError answers with the JSON error body writeError writes.
func (c *loopClient) respondError(status int, msg string) {
	var body bytes.Buffer
	rw := &bufferResponse{h: http.Header{}, body: &body}
	writeError(rw, status, "", msg)
	c.out = c.out[:0]
	c.out = appendStatusLine(c.out, status)
	c.out = append(append(append(c.out, HeaderRole+": "...), c.be.role...), crlf...)
	c.out = append(c.out, "Content-Type: application/json\r\nContent-Length: "...)
	c.out = strconv.AppendInt(c.out, int64(body.Len()), 10)
	c.out = append(c.out, "\r\n"...)
	c.out = c.appendTail(c.out, false)
	c.out = append(c.out, body.Bytes()...)
	c.startWrite()
}

// bufferResponse is a ResponseWriter into memory, for writeError.
type bufferResponse struct {
	h    http.Header
	body *bytes.Buffer
}

func (b *bufferResponse) Header() http.Header         { return b.h }
func (b *bufferResponse) WriteHeader(int)             {}
func (b *bufferResponse) Write(p []byte) (int, error) { return b.body.Write(p) }

func appendStatusLine(b []byte, code int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	return append(append(b, http.StatusText(code)...), "\r\n"...)
}

// appendTail adds the fields every answer gets and ends the head.
func (c *loopClient) appendTail(b []byte, hasDate bool) []byte {
	if !hasDate {
		b = append(append(append(b, "Date: "...), httpDate()...), "\r\n"...)
	}
	if c.req.Close || c.l.closing {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

// upstreamData looks at what the backend has sent so far.
func (c *loopClient) upstreamData() {
	u := c.up
	if !c.hasAns {
		ph, ok := scanPlainHead(u.in)
		if !ok {
			if bytes.Contains(u.in, crlf2) || len(u.in) > 64<<10 {
				c.handOverExchange() // another kind of answer
			}
			return
		}
		if ph.length > maxLoopAnswer || bytes.HasPrefix(ph.contentType, []byte("text/event-stream")) {
			c.handOverExchange()
			return
		}
		c.ans, c.hasAns = ph, true
	}
	ph := &c.ans
	total := ph.headLen + int(ph.length)
	if len(u.in) < total {
		return
	}
	body := u.in[ph.headLen:total]
	o := outcome{status: ph.code}
	ok2xx := ph.code >= 200 && ph.code < 300
	if ok2xx && bytes.Contains(ph.contentType, []byte("json")) {
		parseAnswer(body, &o)
	}
	// The answer: the backend's head as it came, without hop-by-hop fields
	// and the gateway's own; the gateway's fields; the body.
	head := u.in[:ph.headLen-2]
	line, rest, _ := bytes.Cut(head, crlf)
	b := append(append(c.out[:0], line...), crlf...)
	for len(rest) > 0 {
		var field []byte
		field, rest, _ = bytes.Cut(rest, crlf)
		if k, _, _ := bytes.Cut(field, []byte(":")); !isHopHeader(k) && !fieldIs(k, HeaderVersion) && !fieldIs(k, HeaderRole) {
			b = append(append(b, field...), crlf...)
		}
	}
	b = append(append(append(b, HeaderVersion+": "...), c.be.Version...), crlf...)
	b = append(append(append(b, HeaderRole+": "...), c.be.role...), crlf...)
	b = c.appendTail(b, ph.hasDate)
	c.out = append(b, body...)
	o.latency = time.Since(c.start)
	o.answered = ok2xx
	c.be.series.record(&o, c.be.price, time.Now())
	extra := len(u.in) > total
	if cap(u.in) > 64<<10 {
		u.in = nil // a large answer's buffer does not stay in the pool
	} else {
		u.in = u.in[:0]
	}
	c.up, c.hasAns = nil, false
	if extra || u.outOff < len(u.out) || u.peerClosed {
		// The backend sent more than it said, answered before reading all,
		// or closed the connection after the answer.
		u.close()
	} else {
		c.l.putIdle(u)
	}
	c.startWrite()
}

func isHopHeader(k []byte) bool {
	for _, h := range hopHeaders {
		if fieldIs(k, h) {
			return true
		}
	}
	return false
}

func (c *loopClient) startWrite() {
	c.phase, c.since, c.outOff = phaseWrite, c.l.now, 0
	c.flush()
}

// flush writes the answer; when it is out, the next request may start.
func (c *loopClient) flush() {
	for c.outOff < len(c.out) {
		n, err := rawWrite(c.fd, c.out[c.outOff:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			if !c.wOut {
				c.wOut = true
				c.l.modify(c.fd, c.events())
			}
			return
		}
		if err != nil {
			c.close()
			return
		}
		c.outOff += n
	}
	if c.wOut {
		c.wOut = false
		c.l.modify(c.fd, c.events())
	}
	if cap(c.out) > 64<<10 {
		c.out = nil // a rare large answer does not stay with the connection
	}
	if c.req.Close || c.l.closing || c.halfClosed {
		c.linger()
		return
	}
	c.req, c.be, c.outReq, c.upBytes, c.hasAns = nil, nil, nil, nil, false
	c.phase, c.since, c.first = phaseIdle, c.l.now, false
	if c.bigIn && len(c.in) == 0 {
		c.in, c.bigIn = nil, false // a rare large request does not stay with the connection
	}
	if c.paused { // reading again
		c.paused = false
		c.l.modify(c.fd, c.events())
	}
	c.advance()
}

// linger closes the sending side after the last answer and reads what the
// client still sends until it closes too (or lingerTime passes): closing
// with unread bytes would reset the connection, and a reset can destroy
// the answer before the client has read it.
func (c *loopClient) linger() {
	_ = unix.Shutdown(c.fd, unix.SHUT_WR)
	c.phase, c.since, c.in = phaseLinger, c.l.now, c.in[:0]
	if c.paused {
		c.paused = false
		c.l.modify(c.fd, c.events())
	}
	c.discard()
}

// discard reads and drops what has arrived; at the client's end of the
// connection it closes.
func (c *loopClient) discard() {
	if cap(c.in) == 0 {
		c.in = make([]byte, 0, 4096)
	}
	for {
		n, err := rawRead(c.fd, c.in[:cap(c.in)])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if n <= 0 {
			c.close()
			return
		}
	}
}

// sweep applies the connection's timeouts.
func (c *loopClient) sweep(now time.Time) {
	lim := c.l.s.lim
	since := now.Sub(c.since)
	switch c.phase {
	case phaseIdle:
		wait := lim.IdleTimeout.D()
		if c.first || wait <= 0 {
			wait = lim.ReadHeaderTimeout.D()
		}
		if wait > 0 && since > wait {
			c.close()
		}
	case phaseHead:
		if d := lim.ReadHeaderTimeout.D(); d > 0 && since > d {
			c.out = appendStatusLine(c.out[:0], http.StatusRequestTimeout)
			c.out = append(c.out, "Content-Length: 0\r\nConnection: close\r\n\r\n"...)
			_, _ = rawWrite(c.fd, c.out)
			c.linger()
		}
	case phaseBody:
		if d := lim.ReadTimeout.D(); d > 0 && now.Sub(c.start) > d {
			c.close()
		}
	case phaseUpstream:
		switch {
		case lim.MaxDuration.D() > 0 && now.Sub(c.start) > lim.MaxDuration.D(),
			c.up != nil && !c.hasAns && lim.UpstreamTimeout.D() > 0 && since > lim.UpstreamTimeout.D():
			c.fail(errLoopTimeout)
		}
	case phaseWrite:
		if d := lim.MaxDuration.D(); d > 0 && since > d+10*time.Second {
			c.close()
		}
	case phaseLinger:
		if since > lingerTime {
			c.close()
		}
	}
}

// errLoopTimeout is a backend that did not answer in time.
var errLoopTimeout error = loopTimeout{}

type loopTimeout struct{}

func (loopTimeout) Error() string   { return "backend timed out" }
func (loopTimeout) Timeout() bool   { return true }
func (loopTimeout) Temporary() bool { return true }

// handOver gives the connection, with what has been read of it, to the
// goroutine server, which reads the request again.
func (c *loopClient) handOver() {
	c.detach()
	nc, err := fileConn(c.fd)
	if err != nil {
		return
	}
	if sc := c.l.s.ts.adopt(nc, c.in); sc != nil {
		go sc.serve()
	}
}

// detach stops the loop's watch of the connection, which it no longer owns.
func (c *loopClient) detach() {
	c.closed = true
	c.l.forget(c.fd)
	c.l.clients--
}

// handOverExchange gives the connection and its backend connection to a
// goroutine, which reads the answer as the goroutine server would and goes
// on serving the connection.
func (c *loopClient) handOverExchange() {
	u := c.up
	c.detach()
	u.owner = nil
	c.l.forget(u.fd)
	g, ts := c.l.g, c.l.s.ts
	nc, err := fileConn(c.fd)
	if err != nil {
		unix.Close(u.fd)
		return
	}
	uc, err := fileConn(u.fd)
	if err != nil {
		nc.Close()
		return
	}
	sc := ts.adopt(nc, c.in)
	if sc == nil {
		uc.Close()
		return
	}
	req, out, be, start := c.req, c.outReq, c.be, c.start
	unsent := u.out[u.outOff:] // an early answer (1xx) may come before the whole request went
	req.Body = http.NoBody
	sc.body.reset(sc)
	up := newUpConn(uc, bytes.Clone(u.in))
	go sc.run(func() bool {
		return sc.answer(req, start, func(w http.ResponseWriter, r *http.Request) {
			w.Header()[HeaderRole] = be.roleHdr
			var deadline time.Time
			if d := g.cfg.Limits.MaxDuration.D(); d > 0 {
				deadline = start.Add(d)
			}
			var resp *http.Response
			_, err := up.c.Write(unsent)
			if err == nil {
				resp, err = g.upstream.resume(r.Context(), up, out.WithContext(r.Context()), deadline)
			} else {
				up.c.Close()
			}
			o := g.relay(r.Context(), w, be, resp, err, start)
			be.series.record(&o, be.price, time.Now())
		})
	})
}

// idleLook is how long a backend connection must have been idle before a
// loop looks at it ahead of reuse. The loop hears of a backend's close
// through its events, but the close may come between those events and the
// reuse; a backend closes idle connections only after its keep-alive
// timeout, far longer than this, so under load (when connections are
// reused within microseconds) the look costs no system call.
const idleLook = time.Millisecond

func (l *loop) takeIdle(addr string) *loopUpstream {
	for list := l.idle[addr]; len(list) > 0; list = l.idle[addr] {
		u := list[len(list)-1]
		l.idle[addr] = list[:len(list)-1]
		idle := l.now.Sub(u.used)
		if idle > l.g.upstream.idleTimeout || (idle >= idleLook && !fdUsable(u.fd)) {
			u.close()
			continue
		}
		return u
	}
	return nil
}

func (l *loop) putIdle(u *loopUpstream) {
	u.owner, u.used = nil, l.now
	if len(l.idle[u.addr]) >= l.g.upstream.maxIdle || l.closing {
		u.close()
		return
	}
	l.idle[u.addr] = append(l.idle[u.addr], u)
}

// loopUpstream is a backend connection on a loop.
type loopUpstream struct {
	l      *loop
	fd     int
	addr   string
	owner  *loopClient // nil when idle
	reused bool
	in     []byte
	out    []byte
	outOff int
	wOut   bool
	used   time.Time
	closed bool
	// peerClosed: the backend has closed its side, so the connection does
	// not go back to the pool after this answer.
	peerClosed bool
}

func (u *loopUpstream) event(ev uint32) {
	if u.owner == nil {
		// An idle connection has nothing to say: the backend closed it.
		u.dropIdle()
		return
	}
	if ev&unix.EPOLLOUT != 0 {
		u.flush()
		if u.closed || u.owner == nil {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
		return
	}
	if cap(u.in)-len(u.in) < 4096 {
		n := make([]byte, len(u.in), max(16<<10, 2*cap(u.in)))
		copy(n, u.in)
		u.in = n
	}
	n, err := rawRead(u.fd, u.in[len(u.in):cap(u.in)])
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	u.peerClosed = u.peerClosed || ev&(unix.EPOLLRDHUP|unix.EPOLLHUP) != 0
	if n <= 0 {
		if err == nil {
			err = errUnexpectedEOF
		}
		u.owner.fail(err)
		return
	}
	u.in = u.in[:len(u.in)+n]
	u.owner.upstreamData()
}

// errUnexpectedEOF is a backend connection closed before a whole answer; on a
// kept-alive connection before any answer it is stale (see fail).
var errUnexpectedEOF = fmt.Errorf("backend closed the connection: %w", io.ErrUnexpectedEOF)

func (u *loopUpstream) flush() {
	for u.outOff < len(u.out) {
		n, err := rawWrite(u.fd, u.out[u.outOff:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			if !u.wOut {
				u.wOut = true
				u.l.modify(u.fd, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLOUT)
			}
			return
		}
		if err != nil {
			u.owner.fail(err)
			return
		}
		u.outOff += n
	}
	if u.wOut {
		u.wOut = false
		u.l.modify(u.fd, unix.EPOLLIN|unix.EPOLLRDHUP)
	}
}

// dropIdle closes an idle connection and takes it out of the pool.
func (u *loopUpstream) dropIdle() {
	list := u.l.idle[u.addr]
	for i, v := range list {
		if v == u {
			u.l.idle[u.addr] = append(list[:i], list[i+1:]...)
			break
		}
	}
	u.close()
}

func (u *loopUpstream) close() {
	if u.closed {
		return
	}
	u.closed = true
	u.l.forget(u.fd)
	unix.Close(u.fd)
}

func (u *loopUpstream) sweep(now time.Time) {
	if u.owner == nil && now.Sub(u.used) > u.l.g.upstream.idleTimeout {
		u.dropIdle()
	}
}

// newTrafficListener returns the server of the traffic listener: event loops
// in front of the goroutine server, or the goroutine server alone when the
// loops cannot start.
func (g *Gateway) newTrafficListener() trafficListener {
	ts := newTrafficServer(g.TrafficHandler(), g.cfg.Limits, g.log)
	if g.cfg.EventLoops < 0 {
		return ts
	}
	ls, err := newLoopServer(g, ts)
	if err != nil {
		g.log.Warn("event loops unavailable; serving traffic with goroutines", "err", err)
		return ts
	}
	return ls
}
