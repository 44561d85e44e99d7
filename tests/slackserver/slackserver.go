// Package slackserver runs Slack's own test server (slack-go's slacktest)
// for coalmine's tests, with the Web API methods coalmine uses that
// slacktest lacks or answers too coarsely: chat.postMessage with unique
// timestamps, chat.update, chat.postEphemeral and usergroups.users.list,
// each recorded so a test can assert what reached Slack.
package slackserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"
)

// Call is one recorded Web API call: its form fields.
type Call map[string]string

// Server is a running Slack test server.
type Server struct {
	*slacktest.Server
	mu     sync.Mutex
	calls  map[string][]Call
	groups map[string][]string
	cond   *sync.Cond
}

// Channel is the channel id the server answers for every post.
const Channel = "C0DEPLOYS"

// New starts a Slack test server; groups maps user group ids to member ids.
// It stops when the test ends.
func New(t testing.TB, groups map[string][]string) *Server {
	t.Helper()
	s := &Server{calls: map[string][]Call{}, groups: groups}
	s.cond = sync.NewCond(&s.mu)
	s.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", s.record("chat.postMessage", func(n int, f Call) any {
			return map[string]any{"ok": true, "channel": Channel, "ts": fmt.Sprintf("1700000000.%06d", n)}
		}))
		c.Handle("/chat.update", s.record("chat.update", func(_ int, f Call) any {
			if f["ts"] == "gone" {
				return map[string]any{"ok": false, "error": "message_not_found"}
			}
			return map[string]any{"ok": true, "channel": f["channel"], "ts": f["ts"], "text": f["text"]}
		}))
		c.Handle("/chat.postEphemeral", s.record("chat.postEphemeral", func(n int, _ Call) any {
			return map[string]any{"ok": true, "message_ts": fmt.Sprintf("1700000001.%06d", n)}
		}))
		c.Handle("/usergroups.users.list", s.record("usergroups.users.list", func(_ int, f Call) any {
			members, ok := s.groups[f["usergroup"]]
			if !ok {
				return map[string]any{"ok": false, "error": "no_such_subteam"}
			}
			return map[string]any{"ok": true, "users": members}
		}))
	})
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// record answers a method with reply and keeps the call's form fields.
func (s *Server) record(method string, reply func(n int, f Call) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f := Call{}
		for k := range r.PostForm {
			f[k] = r.PostForm.Get(k)
		}
		f["auth"] = r.Header.Get("Authorization")
		s.mu.Lock()
		s.calls[method] = append(s.calls[method], f)
		n := len(s.calls[method])
		s.cond.Broadcast()
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(reply(n, f))
	}
}

// Calls returns the recorded calls of a method, oldest first.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls[method]...)
}

// WaitFor blocks until a call of method satisfies match and returns it;
// the test fails if none does within 30 seconds.
func (s *Server) WaitFor(t testing.TB, method string, match func(Call) bool) Call {
	t.Helper()
	expired := false
	timer := time.AfterFunc(30*time.Second, func() {
		s.mu.Lock()
		expired = true
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := 0
	for {
		for ; seen < len(s.calls[method]); seen++ {
			if c := s.calls[method][seen]; match(c) {
				return c
			}
		}
		if expired {
			t.Fatalf("no matching %s call within 30s among %d", method, seen)
		}
		s.cond.Wait()
	}
}

// Contains is a match for WaitFor: the field holds the text.
func Contains(field, text string) func(Call) bool {
	return func(c Call) bool { return strings.Contains(c[field], text) }
}
