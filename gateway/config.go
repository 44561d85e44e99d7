package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/net/http/httpguts"
)

// Config is the gateway configuration file (gateway.yaml). Every field is
// documented in docs/gateway.md and in testdata/gateway.yaml.
type Config struct {
	// Listen is the address of the traffic listener.
	Listen string `yaml:"listen"`
	// Admin configures the admin listener.
	Admin AdminConfig `yaml:"admin"`
	// StateFile is where the admin-set route state is persisted; empty keeps
	// state in memory only.
	StateFile string `yaml:"stateFile"`
	// State, when its kubernetes block is set, keeps the route state of a
	// fleet of replicas in one Kubernetes object instead of a file.
	State StateConfig `yaml:"state"`
	// Limits bound what one request may cost the gateway.
	Limits Limits `yaml:"limits"`
	// Shadow configures the mirror workers.
	Shadow ShadowConfig `yaml:"shadow"`
	// TLS, when set, makes the traffic listener serve HTTPS (HTTP/2 and
	// HTTP/1.1) with this certificate.
	TLS *TLSConfig `yaml:"tls"`
	// BackendCAFile is a PEM file of certificate authorities trusted for
	// https:// backends besides the system's (a private CA, say).
	BackendCAFile string `yaml:"backendCAFile"`
	// Prices are per-version prices used to compute cost, keyed by version.
	Prices map[string]Price `yaml:"prices"`
	// Routes are the routes served. Their backends, weights, segments and
	// shadow share are the initial state; persisted state overrides them.
	Routes []RouteConfig `yaml:"routes"`
}

// TLSConfig names the traffic listener's certificate files (PEM). The
// files are read again when they change, so a renewed certificate is served
// without a restart.
type TLSConfig struct {
	// CertFile holds the certificate chain, leaf first.
	CertFile string `yaml:"certFile"`
	// KeyFile holds the certificate's private key.
	KeyFile string `yaml:"keyFile"`
}

// AdminConfig configures the admin listener.
type AdminConfig struct {
	// Listen is the address of the admin listener.
	Listen string `yaml:"listen"`
	// TokenEnv names the environment variable that holds the bearer token.
	TokenEnv string `yaml:"tokenEnv"`
}

// Limits bound requests. Zero values take the defaults of DefaultLimits.
type Limits struct {
	// MaxBodyBytes is the largest request body accepted (413 above).
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// MaxHeaderBytes bounds the request header size.
	MaxHeaderBytes int `yaml:"maxHeaderBytes"`
	// ReadHeaderTimeout bounds reading the request header.
	ReadHeaderTimeout Duration `yaml:"readHeaderTimeout"`
	// ReadTimeout bounds reading the whole request.
	ReadTimeout Duration `yaml:"readTimeout"`
	// IdleTimeout closes idle client keep-alive connections.
	IdleTimeout Duration `yaml:"idleTimeout"`
	// ConnectTimeout bounds dialling a backend.
	ConnectTimeout Duration `yaml:"connectTimeout"`
	// UpstreamTimeout bounds the wait for the backend's response headers
	// (for streamed answers: until the stream starts). 504 when exceeded.
	UpstreamTimeout Duration `yaml:"upstreamTimeout"`
	// MaxDuration bounds a whole request including a streamed answer.
	MaxDuration Duration `yaml:"maxDuration"`
	// ShutdownTimeout bounds draining on shutdown.
	ShutdownTimeout Duration `yaml:"shutdownTimeout"`
}

// ShadowConfig configures mirroring.
type ShadowConfig struct {
	// Workers is the number of concurrent mirrored requests.
	Workers int `yaml:"workers"`
	// Queue is how many copies may wait; more are dropped and counted.
	Queue int `yaml:"queue"`
	// Timeout bounds one mirrored request.
	Timeout Duration `yaml:"timeout"`
}

// Price is the price of a version in USD per million tokens.
type Price struct {
	InputPerMillion  float64 `yaml:"inputPerMillion"`
	OutputPerMillion float64 `yaml:"outputPerMillion"`
}

// validate checks a stickiness setting; field prefixes the field path.
func validateSticky(s Sticky, field string) *ErrorBody {
	if s.PinTTL < 0 {
		return &ErrorBody{Field: field + ".pinTTL", Error: "pinTTL must not be negative"}
	}
	if s.PinTTL > 0 && len(s.Headers) == 0 && !s.UserField {
		return &ErrorBody{Field: field + ".pinTTL", Error: "pinning needs a key (sticky.headers or sticky.userField)"}
	}
	for i, h := range s.Headers {
		if strings.TrimSpace(h) == "" {
			return &ErrorBody{Field: fmt.Sprintf("%s.headers[%d]", field, i), Error: "empty header name"}
		}
		if !httpguts.ValidHeaderFieldName(h) {
			return &ErrorBody{Field: fmt.Sprintf("%s.headers[%d]", field, i), Error: fmt.Sprintf("%q is not a header field name", h)}
		}
	}
	return nil
}

// RouteConfig is one route of the configuration file.
type RouteConfig struct {
	// Name is the route name and path prefix: /<name>/v1/... is forwarded to
	// <backend URL>/v1/...
	Name string `yaml:"name"`
	// Host, when set, makes the route also match requests for this Host
	// whatever their path (the path is then forwarded unchanged), and
	// restricts /<name>/ requests to this Host.
	Host string `yaml:"host"`
	// Salt makes this route's assignment independent of other routes';
	// defaults to the route name.
	Salt string `yaml:"salt"`
	// UserHeader holds the user id matched against segment user lists;
	// defaults to x-user-id. The body's `user` field is used when absent.
	UserHeader string `yaml:"userHeader"`
	Sticky     Sticky `yaml:"sticky"`
	// Stable and Canary are the initial backends.
	Stable Backend  `yaml:"stable"`
	Canary *Backend `yaml:"canary"`
	// CanaryWeightBP is the initial canary share in basis points.
	CanaryWeightBP int `yaml:"canaryWeightBP"`
	// Segments are the initial segments.
	Segments []Segment `yaml:"segments"`
	// ShadowBP is the initial mirrored share of stable traffic.
	ShadowBP int `yaml:"shadowBP"`
}

// DefaultLimits are used for every zero field of Limits.
var DefaultLimits = Limits{
	MaxBodyBytes:      4 << 20,
	MaxHeaderBytes:    64 << 10,
	ReadHeaderTimeout: Duration(10 * time.Second),
	ReadTimeout:       Duration(60 * time.Second),
	IdleTimeout:       Duration(120 * time.Second),
	ConnectTimeout:    Duration(5 * time.Second),
	UpstreamTimeout:   Duration(60 * time.Second),
	MaxDuration:       Duration(10 * time.Minute),
	ShutdownTimeout:   Duration(30 * time.Second),
}

// LoadConfig reads and validates a configuration file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read gateway config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("gateway config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses YAML strictly (unknown fields are errors), fills in
// defaults and validates the result.
func ParseConfig(data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty configuration")
		}
		return nil, err
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = "127.0.0.1:8480"
	}
	if c.Admin.TokenEnv == "" {
		c.Admin.TokenEnv = "COALMINE_GATEWAY_TOKEN"
	}
	l, d := &c.Limits, DefaultLimits
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	for _, p := range []struct{ v, d *Duration }{
		{&l.ReadHeaderTimeout, &d.ReadHeaderTimeout}, {&l.ReadTimeout, &d.ReadTimeout},
		{&l.IdleTimeout, &d.IdleTimeout}, {&l.ConnectTimeout, &d.ConnectTimeout},
		{&l.UpstreamTimeout, &d.UpstreamTimeout}, {&l.MaxDuration, &d.MaxDuration},
		{&l.ShutdownTimeout, &d.ShutdownTimeout},
	} {
		if *p.v == 0 {
			*p.v = *p.d
		}
	}
	if c.Shadow.Workers == 0 {
		c.Shadow.Workers = 8
	}
	if c.Shadow.Queue == 0 {
		c.Shadow.Queue = 256
	}
	if c.Shadow.Timeout == 0 {
		c.Shadow.Timeout = Duration(2 * time.Minute)
	}
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.Salt == "" {
			r.Salt = r.Name
		}
		if r.UserHeader == "" {
			r.UserHeader = "x-user-id"
		}
	}
}

var routeName = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// reservedNames cannot be route names: they are served on the traffic
// listener itself.
var reservedNames = map[string]bool{"healthz": true, "readyz": true, "metrics": true}

// Validate checks the configuration; errors name the offending field.
func (c *Config) Validate() error {
	if err := c.validateState(); err != nil {
		return err
	}
	if t := c.TLS; t != nil && (t.CertFile == "" || t.KeyFile == "") {
		return errors.New("tls: certFile and keyFile are both required (PEM files of the traffic listener's certificate)")
	}
	if c.Limits.MaxBodyBytes < 0 || c.Limits.MaxHeaderBytes < 0 {
		return errors.New("limits: sizes must not be negative")
	}
	if c.Shadow.Workers < 0 || c.Shadow.Queue < 0 {
		return errors.New("shadow: workers and queue must not be negative")
	}
	for v, p := range c.Prices {
		if p.InputPerMillion < 0 || p.OutputPerMillion < 0 {
			return fmt.Errorf("prices.%s: prices must not be negative", v)
		}
	}
	if len(c.Routes) == 0 {
		return errors.New("routes: at least one route is required")
	}
	seen := map[string]bool{}
	hosts := map[string]string{}
	for i, r := range c.Routes {
		where := fmt.Sprintf("routes[%d]", i)
		if err := validateName(r.Name); err != nil {
			return fmt.Errorf("%s.name: %w", where, err)
		}
		if seen[r.Name] {
			return fmt.Errorf("%s.name: duplicate route %q", where, r.Name)
		}
		seen[r.Name] = true
		if r.Host != "" {
			h := strings.ToLower(r.Host)
			if other, ok := hosts[h]; ok {
				return fmt.Errorf("%s.host: host %q already used by route %q", where, r.Host, other)
			}
			hosts[h] = r.Name
		}
		if fe := validateSticky(r.Sticky, "sticky"); fe != nil {
			return fmt.Errorf("%s.%s: %s", where, fe.Field, fe.Error)
		}
		st := r.state()
		if fe := validateState(&st); fe != nil {
			return fmt.Errorf("%s.%s: %s", where, fe.Field, fe.Error)
		}
	}
	return nil
}

func validateName(n string) error {
	if !routeName.MatchString(n) {
		return fmt.Errorf("%q is not a valid route name (lowercase letters, digits, '.', '_', '-')", n)
	}
	if reservedNames[n] {
		return fmt.Errorf("%q is reserved", n)
	}
	return nil
}

// state is the initial RouteState of a configured route.
func (r *RouteConfig) state() RouteState {
	st := RouteState{
		Name:           r.Name,
		Stable:         r.Stable,
		CanaryWeightBP: r.CanaryWeightBP,
		ShadowBP:       r.ShadowBP,
		Segments:       append([]Segment{}, r.Segments...),
	}
	if r.Canary != nil {
		c := *r.Canary
		st.Canary = &c
	}
	return st
}

// validateState checks a route state; the returned error names the field.
func validateState(st *RouteState) *ErrorBody {
	if fe := validateBackend("stable", &st.Stable); fe != nil {
		return fe
	}
	if st.Canary != nil {
		if fe := validateBackend("canary", st.Canary); fe != nil {
			return fe
		}
		if st.Canary.Version == st.Stable.Version {
			return &ErrorBody{Field: "canary.version", Error: fmt.Sprintf("canary version %q is the stable version", st.Canary.Version)}
		}
	}
	if st.Canary == nil && st.CanaryWeightBP > 0 {
		return &ErrorBody{Field: "canaryWeightBP", Error: "a canary weight needs a canary backend"}
	}
	if !validBP(st.CanaryWeightBP) {
		return &ErrorBody{Field: "canaryWeightBP", Error: fmt.Sprintf("%d is not within 0..%d", st.CanaryWeightBP, MaxBasisPoints)}
	}
	if st.Sticky != nil {
		if fe := validateSticky(*st.Sticky, "sticky"); fe != nil {
			return fe
		}
	}
	if !validBP(st.ShadowBP) {
		return &ErrorBody{Field: "shadowBP", Error: fmt.Sprintf("%d is not within 0..%d", st.ShadowBP, MaxBasisPoints)}
	}
	names := map[string]bool{}
	for i, s := range st.Segments {
		f := fmt.Sprintf("segments[%d]", i)
		if !routeName.MatchString(s.Name) {
			return &ErrorBody{Field: f + ".name", Error: fmt.Sprintf("%q is not a valid segment name", s.Name)}
		}
		if names[s.Name] {
			return &ErrorBody{Field: f + ".name", Error: fmt.Sprintf("duplicate segment %q", s.Name)}
		}
		names[s.Name] = true
		if s.Header == nil && len(s.Users) == 0 {
			return &ErrorBody{Field: f, Error: "a segment needs a header or users"}
		}
		if s.Header != nil && (s.Header.Name == "" || s.Header.Value == "") {
			return &ErrorBody{Field: f + ".header", Error: "header name and value are required"}
		}
		if s.Header != nil && !httpguts.ValidHeaderFieldName(s.Header.Name) {
			return &ErrorBody{Field: f + ".header.name", Error: fmt.Sprintf("%q is not a header field name (RFC 9110 token: letters, digits and !#$%%&'*+-.^_`|~)", s.Header.Name)}
		}
		if s.Header != nil && !httpguts.ValidHeaderFieldValue(s.Header.Value) {
			return &ErrorBody{Field: f + ".header.value", Error: fmt.Sprintf("%q is not a header field value (no CR, LF or NUL)", s.Header.Value)}
		}
		if !validBP(s.CanaryWeightBP) {
			return &ErrorBody{Field: f + ".canaryWeightBP", Error: fmt.Sprintf("%d is not within 0..%d", s.CanaryWeightBP, MaxBasisPoints)}
		}
	}
	return nil
}

func validBP(v int) bool { return v >= 0 && v <= MaxBasisPoints }

func validateBackend(field string, b *Backend) *ErrorBody {
	if b.Version == "" {
		return &ErrorBody{Field: field + ".version", Error: "version is required"}
	}
	u, err := url.Parse(b.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &ErrorBody{Field: field + ".url", Error: fmt.Sprintf("%q is not an absolute http(s) URL", b.URL)}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return &ErrorBody{Field: field + ".url", Error: "backend URL must not have a query or fragment"}
	}
	return nil
}
