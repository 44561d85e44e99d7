package main

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// startNginx runs nginx with one worker per processor in front of the
// backend: the gateway's route (/voice/…, 5% to a second upstream, sticky by
// x-session-id), upstream keep-alive, no buffering. It returns a function
// that lists its processes (the workers appear after start).
func startNginx(ps *procs, dir, backend, listen string) (func() []int, error) {
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`daemon off;
worker_processes auto;
worker_rlimit_nofile 200000;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 60000; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream stable { server %[2]s; keepalive 1024; }
  upstream canary { server %[2]s; keepalive 1024; }
  split_clients "voice${http_x_session_id}" $backend { 5%% canary; * stable; }
  server {
    listen %[3]s backlog=65535;
    location /voice/ {
      rewrite ^/voice(/.*)$ $1 break;
      proxy_pass http://$backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 5m;
    }
  }
}
`, dir, backend, listen)), 0o600); err != nil {
		return nil, err
	}
	pid, err := ps.startPID(nil, "nginx", "-p", dir, "-c", conf)
	if err != nil {
		return nil, err
	}
	return func() []int { return append([]int{pid}, childrenOf(pid)...) }, nil
}

// reverseProxy is the plain reference: net/http's server and
// httputil.ReverseProxy with nothing of the gateway's (no split, no
// reading of the answers), the floor of what a proxy on net/http costs.
func reverseProxy(backend string) (http.Handler, error) {
	u, err := url.Parse("http://" + backend)
	if err != nil {
		return nil, err
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, "/voice")
			pr.Out.URL.RawPath = ""
		},
		Transport:     &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true},
		FlushInterval: -1,
	}, nil
}
