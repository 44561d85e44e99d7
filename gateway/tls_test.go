package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coalmine-dev/coalmine/gateway"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// common name to certFile and keyFile, and returns it for a client's pool.
func writeCert(t *testing.T, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// The key first: a reload between the two writes keeps the old pair.
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// The traffic listener serves HTTPS with HTTP/2 to a client that offers
// it, streams an answer from an HTTPS backend reached over HTTP/2, and
// serves a renewed certificate once its files change.
func TestTLSAndHTTP2(t *testing.T) {
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Backend-Proto", r.Proto)
		_, _ = io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n")
	}))
	backend.EnableHTTP2 = true
	backend.StartTLS()
	t.Cleanup(backend.Close)

	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	first := writeCert(t, certFile, keyFile, "first")
	backendCA := filepath.Join(dir, "backend-ca.pem")
	if err := os.WriteFile(backendCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: backend.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, parseConfig(t, `
tls: {certFile: `+certFile+`, keyFile: `+keyFile+`}
backendCAFile: `+backendCA+`
routes:
  - name: chat
    stable: {version: v1, url: `+backend.URL+`}
`))

	get := func(pool *x509.Certificate) (*http.Response, string) {
		t.Helper()
		roots := x509.NewCertPool()
		roots.AddCert(pool)
		hc := &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
		}}
		defer hc.CloseIdleConnections()
		url := strings.Replace(g.traffic, "http://", "https://", 1) + "/chat/v1/chat/completions"
		resp, err := hc.Post(url, "application/json", strings.NewReader(`{"stream":true}`))
		if err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get(first)
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !strings.Contains(body, "[DONE]") {
		t.Fatalf("answer %s %d %q, want HTTP/2 200 with the stream", resp.Proto, resp.StatusCode, body)
	}
	if p := resp.Header.Get("X-Backend-Proto"); p != "HTTP/2.0" {
		t.Fatalf("the backend was asked over %s, want HTTP/2.0", p)
	}
	if resp.Header.Get(gateway.HeaderVersion) != "v1" {
		t.Fatalf("answer header %v", resp.Header)
	}

	// A renewed certificate is served without a restart.
	time.Sleep(10 * time.Millisecond) // a new modification time
	second := writeCert(t, certFile, keyFile, "second")
	deadline := time.Now().Add(10 * time.Second)
	for {
		roots := x509.NewCertPool()
		roots.AddCert(second)
		c, err := tls.Dial("tcp", strings.TrimPrefix(g.traffic, "http://"), &tls.Config{RootCAs: roots})
		if err == nil {
			cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName
			c.Close()
			if cn == "second" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate was not served: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp, body := get(second); resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("after the renewal: %s %d %q", resp.Proto, resp.StatusCode, body)
	}
	c := series(statsAfter(t, g, "chat", 2), "chat", "v1", gateway.RoleStable).Cumulative
	if c.Requests != 2 || c.Errors != 0 || c.TTFT.Count != 2 {
		t.Fatalf("counts %+v", c)
	}
}
