package notify

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sampleCard() Card {
	return Card{
		App: "voice-agent", Stable: "v1", Canary: "v2", Phase: "Waiting",
		Step: 9, Steps: 10, StepText: "approval", Weight: 50, Event: "gate",
		Verdicts: []VerdictLine{
			{Metric: "eval-pass-rate", Verdict: "Pass", Detail: "0.95 ≥ 0.92"},
			{Metric: "error-rate", Verdict: "Inconclusive", Detail: "canary 0.011 vs stable 0.010 (n=412)"},
		},
		UIURL: "http://127.0.0.1:8233/namespaces/default/workflows/coalmine%2Fvoice-agent",
		Gate: &Gate{ID: "step-9", WorkflowID: "coalmine/voice-agent", RunID: "run-1", Approvers: []string{"U024BE7LH", "S0614TZR7"},
			Deadline: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), OnTimeout: "rollback"},
	}
}

func TestCardBlocksGolden(t *testing.T) {
	decided := sampleCard()
	decided.Decision = &Decision{Action: "promote", Who: "slack:U024BE7LH", At: time.Date(2026, 11, 23, 14, 5, 0, 0, time.UTC)}
	decided.Phase = "Progressing"
	rolledBack := Card{App: "voice-agent", Stable: "v1", Canary: "v3", Phase: "RolledBack", Step: 3, Steps: 10, Weight: 0, Event: "rolledBack",
		Text: "Rolled back at step 3 (analysis): tool-call-rate failed: canary 0.39 is 1.3× stable's 0.30, above the 1.2× allowed."}
	for name, c := range map[string]Card{"gate": sampleCard(), "decided": decided, "rolledback": rolledBack} {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(c.Blocks(), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "card-"+name+".json")
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (go test ./activities/notify -update): %v", err)
			}
			if string(got)+"\n" != string(want) {
				t.Errorf("blocks differ from %s:\n%s", path, got)
			}
		})
	}
	if b, _ := json.Marshal(decided.Blocks()); strings.Contains(string(b), ActionPromote) {
		t.Error("a decided card still carries buttons")
	}
}

func TestButtonValueRoundTrip(t *testing.T) {
	c := sampleCard()
	var value string
	for _, b := range c.Blocks() {
		if a, ok := b.(*slack.ActionBlock); ok {
			value = a.Elements.ElementSet[0].(*slack.ButtonBlockElement).Value
		}
	}
	v, err := ParseButtonValue(value)
	if err != nil || v != (ButtonValue{WorkflowID: "coalmine/voice-agent", RunID: "run-1", GateID: "step-9"}) {
		t.Fatalf("ParseButtonValue(%q) = %+v, %v", value, v, err)
	}
	for _, bad := range []string{"", "{", `{"w":"x"}`, `[1]`} {
		if _, err := ParseButtonValue(bad); err == nil {
			t.Errorf("ParseButtonValue(%q) accepted", bad)
		}
	}
}

// slackServer is slacktest's server with chat.update, which it lacks, and
// a chat.postMessage that records each call and answers unique timestamps
// (slacktest's are whole seconds, so two posts in one second collide).
type slackServer struct {
	*slacktest.Server
	mu      sync.Mutex
	posts   []call
	updates []call
}

type call = map[string]string

func newSlackServer(t *testing.T) *slackServer {
	t.Helper()
	s := &slackServer{}
	s.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			s.mu.Lock()
			s.posts = append(s.posts, call{"channel": r.FormValue("channel"), "text": r.FormValue("text"), "blocks": r.FormValue("blocks")})
			ts := fmt.Sprintf("1700000000.%06d", len(s.posts))
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": "C0DEPLOYS", "ts": ts})
		})
		c.Handle("/chat.update", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			s.mu.Lock()
			s.updates = append(s.updates, call{"channel": r.FormValue("channel"), "ts": r.FormValue("ts"), "blocks": r.FormValue("blocks")})
			s.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			if r.FormValue("ts") == "gone" {
				_, _ = w.Write([]byte(`{"ok": false, "error": "message_not_found"}`))
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.FormValue("channel"), "ts": r.FormValue("ts"), "text": r.FormValue("text")})
		})
	})
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func TestSlackUpsert(t *testing.T) {
	srv := newSlackServer(t)
	s := NewSlack("xoxb-test-token", srv.GetAPIURL(), nil)
	ctx := context.Background()
	c := sampleCard()

	posted, err := s.Upsert(ctx, "#deploys", Posted{}, c)
	if err != nil {
		t.Fatal(err)
	}
	if posted.TS == "" || posted.Channel == "" {
		t.Fatalf("post returned %+v", posted)
	}
	srv.mu.Lock()
	first := srv.posts[0]
	srv.mu.Unlock()
	if first["text"] != c.Fallback() || first["channel"] != "#deploys" || !strings.Contains(first["blocks"], ActionPromote) {
		t.Errorf("chat.postMessage got %v", first)
	}
	if strings.Contains(fmt.Sprint(first), "xoxb-test-token") {
		t.Error("the bot token leaked into the message")
	}

	c.Phase = "Promoted"
	again, err := s.Upsert(ctx, "#deploys", posted, c)
	if err != nil {
		t.Fatal(err)
	}
	if again != posted {
		t.Errorf("update moved the message: %+v → %+v", posted, again)
	}
	srv.mu.Lock()
	n := len(srv.updates)
	last := srv.updates[n-1]
	srv.mu.Unlock()
	if n != 1 || last["ts"] != posted.TS || !strings.Contains(last["blocks"], "Promoted") {
		t.Fatalf("chat.update calls: %d, last %v", n, last)
	}

	// A message that is gone is posted anew rather than failing the rollout.
	fresh, err := s.Upsert(ctx, "#deploys", Posted{Channel: posted.Channel, TS: "gone"}, c)
	if err != nil || fresh.TS == "" || fresh.TS == "gone" {
		t.Fatalf("upsert of a gone message = %+v, %v", fresh, err)
	}

	if _, err := s.Upsert(ctx, "", Posted{}, c); err == nil || !strings.Contains(err.Error(), "notifications.slack.channel") {
		t.Errorf("post without channel: %v", err)
	}
}
