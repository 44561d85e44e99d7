package workers

import (
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
)

// Connection says how a coalmine process reaches Temporal, the way the
// temporal CLI does. Settings come, last one winning, from: the profile of
// the TOML config file (--config-file, else TEMPORAL_CONFIG_FILE, else
// ~/.config/temporalio/temporal.toml; profile --profile, else
// TEMPORAL_PROFILE, else "default"), the TEMPORAL_* variables, the
// coalmine-specific COALMINE_TEMPORAL_ADDRESS and
// COALMINE_TEMPORAL_NAMESPACE, and the flags. Empty fields were not given.
// The API key is read from TEMPORAL_API_KEY or the profile's api_key only.
type Connection struct {
	// Address is the frontend host:port (--address).
	Address string
	// Namespace is the Temporal namespace (--namespace).
	Namespace string
	// Profile is the profile of the config file (--profile).
	Profile string
	// ConfigFile is the TOML config file (--config-file).
	ConfigFile string
	// TLS turns TLS on or off when not nil (--tls, --tls=false).
	TLS *bool
	// TLSCertPath and TLSKeyPath are the client certificate and its key, for mTLS.
	TLSCertPath, TLSKeyPath string
	// TLSCAPath is the CA that signed the server's certificate; empty trusts the system's CAs.
	TLSCAPath string
	// TLSServerName is the name the server's certificate must carry; empty is the address's host.
	TLSServerName string
}

// Endpoint is a resolved Temporal connection: client options ready to dial,
// and what a log line or an error may say about them (never the API key).
type Endpoint struct {
	// Options are the client options; Dial adds the logger and metrics.
	Options client.Options
	// Address and Namespace are the resolved values, defaults filled in.
	Address, Namespace string
	// TLS says whether the connection uses TLS; ClientCert whether it presents a certificate.
	TLS, ClientCert bool
	// APIKeyFrom names where the API key came from ("TEMPORAL_API_KEY",
	// "profile default"), or is empty when there is none.
	APIKeyFrom string
	// ServerName is the name checked in the server's certificate.
	ServerName string
}

// PlainEndpoint is a connection without TLS or credentials, as to a dev
// server; empty address and namespace are localhost:7233 and default.
func PlainEndpoint(address, namespace string) Endpoint {
	address = orDefault(address, client.DefaultHostPort)
	namespace = orDefault(namespace, "default")
	return Endpoint{Options: client.Options{HostPort: address, Namespace: namespace}, Address: address, Namespace: namespace}
}

// String describes the endpoint for logs: address, namespace and how it authenticates.
func (e Endpoint) String() string {
	var auth []string
	if e.TLS {
		auth = append(auth, "TLS")
	}
	if e.ClientCert {
		auth = append(auth, "client certificate")
	}
	if e.APIKeyFrom != "" {
		auth = append(auth, "API key from "+e.APIKeyFrom)
	}
	if len(auth) == 0 {
		auth = append(auth, "plaintext")
	}
	return fmt.Sprintf("%s (namespace %s, %s)", e.Address, e.Namespace, strings.Join(auth, ", "))
}

// Resolve reads the config file and the process's environment and applies
// the flags on top.
func (c Connection) Resolve() (Endpoint, error) {
	file := c.ConfigFile
	if file == "" {
		file = os.Getenv("TEMPORAL_CONFIG_FILE")
	}
	if file != "" {
		if _, err := os.Stat(file); err != nil {
			return Endpoint{}, fmt.Errorf("read the Temporal config file %s (--config-file or TEMPORAL_CONFIG_FILE): %w", file, err)
		}
	}
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{
		ConfigFilePath: file, ConfigFileProfile: c.Profile, ConfigFileStrict: true,
	})
	if err != nil {
		return Endpoint{}, fmt.Errorf("read the Temporal connection settings (config file %s, profile %s): %w",
			orDefault(file, envconfig.DefaultConfigFilePath()), orDefault(c.profileName(), envconfig.DefaultConfigFileProfile), err)
	}
	keyFrom := ""
	if prof.APIKey != "" {
		keyFrom = "profile " + orDefault(c.profileName(), envconfig.DefaultConfigFileProfile)
		if os.Getenv("TEMPORAL_API_KEY") != "" {
			keyFrom = "TEMPORAL_API_KEY"
		}
	}
	c.applyOverrides(&prof)
	prof.Address = orDefault(prof.Address, client.DefaultHostPort)
	prof.Namespace = orDefault(prof.Namespace, "default")
	opts, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return Endpoint{}, fmt.Errorf("invalid Temporal connection settings for %s: %w", prof.Address, err)
	}
	ep := Endpoint{Options: opts, Address: prof.Address, Namespace: prof.Namespace, APIKeyFrom: keyFrom}
	if tc := opts.ConnectionOptions.TLS; tc != nil && !opts.ConnectionOptions.TLSDisabled {
		ep.TLS = true
		ep.ClientCert = len(tc.Certificates) > 0
		ep.ServerName = tc.ServerName
	}
	return ep, nil
}

// profileName is the profile asked for by flag or TEMPORAL_PROFILE.
func (c Connection) profileName() string {
	return orDefault(c.Profile, os.Getenv("TEMPORAL_PROFILE"))
}

// applyOverrides puts the coalmine variables and then the flags over the
// profile and the TEMPORAL_* variables.
func (c Connection) applyOverrides(prof *envconfig.ClientConfigProfile) {
	prof.Address = firstSet(c.Address, os.Getenv("COALMINE_TEMPORAL_ADDRESS"), prof.Address)
	prof.Namespace = firstSet(c.Namespace, os.Getenv("COALMINE_TEMPORAL_NAMESPACE"), prof.Namespace)
	if c.TLS == nil && c.TLSCertPath == "" && c.TLSKeyPath == "" && c.TLSCAPath == "" && c.TLSServerName == "" {
		return
	}
	if prof.TLS == nil {
		prof.TLS = &envconfig.ClientConfigTLS{}
	}
	t := prof.TLS
	if c.TLS != nil {
		t.Disabled = !*c.TLS
	}
	if c.TLSCertPath != "" || c.TLSKeyPath != "" {
		t.ClientCertPath, t.ClientKeyPath = c.TLSCertPath, c.TLSKeyPath
		t.ClientCertData, t.ClientKeyData = nil, nil
	}
	if c.TLSCAPath != "" {
		t.ServerCACertPath, t.ServerCACertData = c.TLSCAPath, nil
	}
	t.ServerName = orDefault(c.TLSServerName, t.ServerName)
}

// firstSet returns the first non-empty value.
func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
