package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// startReference starts a reference proxy in front of the stable and canary
// backends, listening on listen with the gateway's route (/voice/…, 5% to
// the canary, sticky by x-session-id), and returns a function that lists its
// processes when asked (nginx's workers appear after start).
type startReference func(ps *procs, dir, stable, canary, listen string) (pids func() []int, err error)

// references are the proxies the gateway can be compared with, by the name
// of their command.
var references = map[string]startReference{
	"nginx":   startNginx,
	"haproxy": startHAProxy,
}

// startNginx runs nginx with one worker per processor, upstream keep-alive
// and split_clients on the session header.
func startNginx(ps *procs, dir, stable, canary, listen string) (func() []int, error) {
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream stable { server %[2]s; keepalive 256; }
  upstream canary { server %[3]s; keepalive 256; }
  split_clients "voice${http_x_session_id}" $backend { 5%% canary; * stable; }
  server {
    listen %[4]s;
    location /voice/ {
      rewrite ^/voice(/.*)$ $1 break;
      proxy_pass http://$backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`, dir, stable, canary, listen)), 0o600); err != nil {
		return nil, err
	}
	pid, err := ps.startPID(nil, "nginx", "-p", dir, "-c", conf)
	if err != nil {
		return nil, err
	}
	return func() []int { return append([]int{pid}, childrenOf(pid)...) }, nil
}

// startHAProxy runs HAProxy with one thread per processor, connection reuse
// to the backends and a consistent hash of the session header weighted
// 95:5.
func startHAProxy(ps *procs, dir, stable, canary, listen string) (func() []int, error) {
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`global
  pidfile %[1]s/haproxy.pid
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend traffic
  bind %[4]s
  default_backend voice
backend voice
  balance hdr(x-session-id)
  hash-type consistent
  http-request replace-path /voice(/.*) \1
  server stable %[2]s weight 95
  server canary %[3]s weight 5
`, dir, stable, canary, listen)), 0o600); err != nil {
		return nil, err
	}
	pid, err := ps.startPID(nil, "haproxy", "-f", conf)
	if err != nil {
		return nil, err
	}
	return func() []int { return []int{pid} }, nil
}
