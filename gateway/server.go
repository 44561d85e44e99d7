package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Gateway is the built-in LLM gateway: a reverse proxy on the traffic
// listener and an admin API on the admin listener.
type Gateway struct {
	cfg       *Config
	token     string
	log       *slog.Logger
	transport *http.Transport        // every backend, HTTP/1.1 or HTTP/2 over TLS
	proxy     *httputil.ReverseProxy // every request to a backend goes through it
	sessions  *sessions              // WebSocket sessions in progress
	reg       *registry
	prom      *prometheus.Registry
	shadow    *shadower
	startedAt time.Time
	ready     atomic.Bool
	bufPool   sync.Pool // *[]byte copy buffers

	mu     sync.Mutex            // serialises writes of states
	states map[string]RouteState // current state of every route
	pins   map[string]*pins      // per route; outlive state changes
	table  atomic.Pointer[table] // what the request path reads
	kube   *kubeStore            // the shared state object of a fleet; nil for a file or memory
}

// New builds a gateway from a validated configuration, loading persisted
// state when cfg.StateFile exists. token is the admin bearer token and must
// not be empty.
func New(cfg *Config, token string, logger *slog.Logger) (*Gateway, error) {
	if token == "" {
		return nil, errors.New("new gateway: the admin token is empty")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{
		cfg:       cfg,
		token:     token,
		log:       logger,
		reg:       newRegistry(),
		startedAt: time.Now().UTC(),
		states:    map[string]RouteState{},
		pins:      map[string]*pins{},
	}
	// A stream holds its copy buffer for as long as it lasts: 8 KiB holds
	// many SSE events and keeps 10,000 streams' buffers to 80 MiB.
	g.bufPool.New = func() any { b := make([]byte, 8<<10); return &b }
	var err error
	if g.transport, err = newTransport(cfg.Limits, cfg.BackendCAFile); err != nil {
		return nil, fmt.Errorf("new gateway: %w", err)
	}
	g.proxy = g.newProxy()
	g.sessions = newSessions()
	var persisted map[string]RouteState
	if k := cfg.State.Kubernetes; k != nil {
		if g.kube, err = newKubeStore(g, k); err != nil {
			return nil, fmt.Errorf("new gateway: %w", err)
		}
	}
	if cfg.StateFile != "" {
		if persisted, err = loadState(cfg.StateFile); err != nil {
			return nil, fmt.Errorf("new gateway: %w", err)
		}
	}
	for _, rc := range cfg.Routes {
		st, ok := persisted[rc.Name]
		if !ok {
			st = rc.state()
		}
		if st.Segments == nil {
			st.Segments = []Segment{}
		}
		st.Name = rc.Name
		g.states[rc.Name] = st
		g.pins[rc.Name] = newPins()
	}
	g.table.Store(g.buildTable())
	g.shadow = newShadower(g, cfg.Shadow.Workers, cfg.Shadow.Queue)
	g.prom = prometheus.NewRegistry()
	g.prom.MustRegister(newCollector(g.reg), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g.ready.Store(true)
	return g, nil
}

// buildTable compiles the current states; callers hold g.mu or own g.
func (g *Gateway) buildTable() *table {
	t := &table{byName: map[string]*route{}, byHost: map[string]*route{}}
	for _, rc := range g.cfg.Routes {
		st := g.states[rc.Name]
		rt := &route{
			name: rc.Name, host: rc.Host, salt: rc.Salt, userHeader: rc.UserHeader,
			sticky: rc.Sticky, state: st, pins: g.pins[rc.Name],
		}
		if st.Sticky != nil {
			rt.sticky = *st.Sticky
		}
		for _, s := range st.Segments {
			if len(s.Users) > 0 {
				rt.needUser = true
			}
		}
		rt.stable = g.newBackend(rc.Name, st.Stable, RoleStable)
		if st.Canary != nil {
			rt.canary = g.newBackend(rc.Name, *st.Canary, RoleCanary)
			rt.canary.shadow = g.reg.get(rc.Name, st.Canary.Version, RoleShadow)
		}
		t.byName[rc.Name] = rt
		if rc.Host != "" {
			t.byHost[strings.ToLower(rc.Host)] = rt
		}
	}
	return t
}

func (g *Gateway) newBackend(route string, b Backend, role string) *backend {
	u, _ := url.Parse(b.URL) // validated before it gets here
	return &backend{Backend: b, url: u, role: role, series: g.reg.get(route, b.Version, role), price: g.cfg.Prices[b.Version],
		versionHdr: []string{b.Version}, roleHdr: []string{role}, lastWarn: new(atomic.Int64)}
}

// TrafficHandler serves proxied traffic plus /healthz and /readyz.
func (g *Gateway) TrafficHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", g.handleHealth)
	mux.HandleFunc("GET /readyz", g.handleReady)
	mux.HandleFunc("/", g.serveTraffic)
	return trafficHandler{g: g, mux: mux}
}

// trafficHandler sends a request that the mux would give to serveTraffic
// unchanged (a clean path other than the health endpoints) straight there,
// sparing the proxied path the mux's pattern matching; everything else
// (health, paths the mux redirects to their clean form, CONNECT) goes
// through the mux.
type trafficHandler struct {
	g   *Gateway
	mux *http.ServeMux
}

// ServeHTTP implements http.Handler.
func (h trafficHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(r.TransferEncoding) > 0 {
		// net/http drops a Content-Length sent with Transfer-Encoding
		// without saying so, and RFC 9112 section 6.1 asks a server to
		// close the connection after answering such a request; closing
		// after every chunked request body covers it.
		w.Header().Set("Connection", "close")
	}
	if r.Method == http.MethodConnect {
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusMethodNotAllowed, "", "the gateway is not a forward proxy: CONNECT is not served")
		return
	}
	// The mux cleans and matches the escaped path.
	p, u := r.URL.EscapedPath(), r.URL.Path
	if r.Method != http.MethodConnect && u != "/healthz" && u != "/readyz" && p != "/healthz" && p != "/readyz" && cleanPath(p) {
		h.g.serveTraffic(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// cleanPath reports whether the mux would leave p as it is: p is rooted and
// has no empty, "." or ".." element (a trailing slash is kept).
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		// p[start:i] is the element that ends here
		start := strings.LastIndexByte(p[:i], '/') + 1
		switch el := p[start:i]; el {
		case ".", "..":
			return false
		case "":
			if i < len(p) { // an empty element that is not the trailing one
				return false
			}
		}
	}
	return true
}

// AdminHandler serves the admin API (bearer token), /metrics, /healthz and
// /readyz.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", g.handleHealth)
	mux.HandleFunc("GET /readyz", g.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.prom, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET "+PathRoutes, g.requireToken(g.handleListRoutes))
	mux.HandleFunc("GET "+PathRoutes+"/{name}", g.requireToken(g.handleGetRoute))
	mux.HandleFunc("PUT "+PathRoutes+"/{name}", g.requireToken(g.handlePutRoute))
	mux.HandleFunc("GET "+PathStats, g.requireToken(g.handleStats))
	mux.HandleFunc(PathRoutes+"/{name}/versions/{version}/{path...}", g.requireToken(g.handlePinned))
	return mux
}

func (g *Gateway) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (g *Gateway) handleReady(w http.ResponseWriter, _ *http.Request) {
	if !g.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	if g.kube != nil && !g.kube.loaded.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "loading route state from " + g.kube.where()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// ListenAndServe listens on the configured addresses and serves until ctx
// ends, then shuts down gracefully.
func (g *Gateway) ListenAndServe(ctx context.Context) error {
	tl, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen for traffic on %s: %w", g.cfg.Listen, err)
	}
	al, err := net.Listen("tcp", g.cfg.Admin.Listen)
	if err != nil {
		tl.Close()
		return fmt.Errorf("listen for admin on %s: %w", g.cfg.Admin.Listen, err)
	}
	return g.Serve(ctx, tl, al)
}

// Serve serves traffic on tl and the admin API on al until ctx ends. It then
// reports not ready, stops accepting, drains requests in flight, WebSocket
// sessions and queued shadow copies within Limits.ShutdownTimeout, and
// returns.
func (g *Gateway) Serve(ctx context.Context, tl, al net.Listener) error {
	lim := g.cfg.Limits
	traffic, err := g.newTrafficServer()
	if err != nil {
		tl.Close()
		al.Close()
		return fmt.Errorf("serve gateway: %w", err)
	}
	admin := &http.Server{
		Handler:           g.AdminHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       lim.IdleTimeout.D(),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	tlsOn := traffic.TLSConfig != nil // read before Serve configures HTTP/2 in it
	go func() {
		if tlsOn {
			errc <- traffic.ServeTLS(lingerListener{tl}, "", "")
			return
		}
		errc <- traffic.Serve(lingerListener{tl})
	}()
	go func() { errc <- admin.Serve(al) }()
	stateCtx, stopState := context.WithCancel(context.Background())
	stateDone := make(chan struct{})
	go func() {
		defer close(stateDone)
		if g.kube != nil {
			g.kube.run(stateCtx)
		}
	}()
	sweepDone := make(chan struct{})
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	go func() { defer close(sweepDone); g.sweepPins(sweepCtx) }()
	g.log.Info("gateway serving", "traffic", tl.Addr().String(), "admin", al.Addr().String(), "tls", tlsOn)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	g.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), lim.ShutdownTimeout.D())
	defer cancel()
	if err := traffic.Shutdown(sctx); err != nil {
		g.log.Warn("traffic listener did not drain in time; closing its connections", "err", err)
		traffic.Close()
	}
	if n := g.sessions.drain(sctx); n > 0 {
		g.log.Warn("WebSocket sessions did not end in time; closed them", "sessions", n)
	}
	g.shadow.close(sctx)
	if err := admin.Shutdown(sctx); err != nil {
		g.log.Warn("admin listener did not drain in time", "err", err)
	}
	stopSweep()
	<-sweepDone
	stopState()
	<-stateDone
	g.transport.CloseIdleConnections()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve gateway: %w", serveErr)
	}
	return nil
}

// sweepPins drops idle pins once a minute so memory follows live sessions.
func (g *Gateway) sweepPins(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			for _, rc := range g.cfg.Routes {
				if ttl := rc.Sticky.PinTTL.D(); ttl > 0 {
					g.pins[rc.Name].sweep(now, ttl)
				}
			}
		}
	}
}
