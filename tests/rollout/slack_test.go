package rollout_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/coalmine-dev/coalmine/activities/notify"
	"github.com/coalmine-dev/coalmine/tests/slackserver"
	"github.com/coalmine-dev/coalmine/workers/slackbot"
	"github.com/coalmine-dev/coalmine/workflows"
)

const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// slackClicks drives the Slack side of a rollout: the Interactivity URL of
// the real handler, and Slack's test server behind it.
type slackClicks struct {
	t       *testing.T
	api     *slackserver.Server
	handler *slackbot.Handler
	url     string
}

func newSlackClicks(t *testing.T, s *stack) *slackClicks {
	t.Helper()
	api := slackserver.New(t, map[string][]string{"S0RELEASE": {"UGROUPIE"}})
	poster := notify.NewSlack("xoxb-it-token", api.GetAPIURL(), slog.New(slog.DiscardHandler))
	s.acts.Notifier = poster
	h := &slackbot.Handler{SigningSecret: signingSecret, Slack: poster, Rollouts: slackbot.Temporal{Client: dev.client}, Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &slackClicks{t: t, api: api, handler: h, url: srv.URL}
}

// payload is a block_actions interaction as Slack sends it.
func payload(user, action, value, messageTS string) string {
	b, _ := json.Marshal(map[string]any{
		"type":      "block_actions",
		"user":      map[string]any{"id": user},
		"channel":   map[string]any{"id": slackserver.Channel},
		"container": map[string]any{"type": "message", "channel_id": slackserver.Channel, "message_ts": messageTS},
		"actions":   []map[string]any{{"type": "button", "action_id": action, "block_id": "gate", "value": value}},
	})
	return string(b)
}

// click posts an interaction signed as Slack signs it, at the given time,
// and returns the HTTP status.
func (c *slackClicks) click(body string, at time.Time, secret string) int {
	c.t.Helper()
	form := url.Values{"payload": {body}}.Encode()
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, form)
	req, err := http.NewRequest(http.MethodPost, c.url, strings.NewReader(form))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("click: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// ephemeral waits for the ephemeral answer to user that contains text.
func (c *slackClicks) ephemeral(user, text string) {
	c.t.Helper()
	c.api.WaitFor(c.t, "chat.postEphemeral", func(call slackserver.Call) bool {
		return call["user"] == user && strings.Contains(call["text"], text)
	})
}

// buttonValue finds the Promote button's value in a posted message.
func buttonValue(t *testing.T, blocks string) string {
	t.Helper()
	var bs slack.Blocks
	if err := json.Unmarshal([]byte(blocks), &bs); err != nil {
		t.Fatalf("decode blocks: %v", err)
	}
	for _, b := range bs.BlockSet {
		if a, ok := b.(*slack.ActionBlock); ok {
			for _, e := range a.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok && btn.ActionID == notify.ActionPromote {
					return btn.Value
				}
			}
		}
	}
	t.Fatalf("no Promote button in %s", blocks)
	return ""
}

// TestSlackApprovalGate runs a rollout to an approval gate on the real dev
// server, then clicks its Slack buttons: forged, stale and malformed
// requests are refused, a non-approver is told so, an approver (through
// a user group) promotes, a second click is told who acted, and the one
// message is updated as the rollout moves.
func TestSlackApprovalGate(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-slack", 0.95)
	sc := newSlackClicks(t, s)
	w := s.startWorker()
	defer w.Stop()
	p := s.plan(`    - setWeight: 20
    - approval:
        timeout: 1h
        approvers: {users: [UAPPROVER], groups: [S0RELEASE]}
    - setWeight: 60`, `  notifications: {slack: {channel: "#deploys"}}`)
	run := s.start(p)

	s.waitFor("the approval gate", func(st workflows.Status) bool { return st.Gate == "step-2" })
	gateMsg := sc.api.WaitFor(t, "chat.update", slackserver.Contains("blocks", notify.ActionPromote))
	posts := sc.api.Calls("chat.postMessage")
	if len(posts) != 1 || posts[0]["channel"] != "#deploys" {
		t.Fatalf("posts = %v, want the one rollout message in #deploys", posts)
	}
	const msgTS = "1700000000.000001" // the test server's answer to the first post
	if gateMsg["ts"] != msgTS {
		t.Errorf("the gate updated message %s, not the rollout's %s", gateMsg["ts"], msgTS)
	}
	value := buttonValue(t, gateMsg["blocks"])
	now := time.Now()

	// Refused before anything is read: a forged signature, a stale
	// timestamp, a malformed payload.
	if code := sc.click(payload("UAPPROVER", notify.ActionPromote, value, msgTS), now, "not-the-secret"); code != http.StatusUnauthorized {
		t.Errorf("forged click: HTTP %d, want 401", code)
	}
	if code := sc.click(payload("UAPPROVER", notify.ActionPromote, value, msgTS), now.Add(-6*time.Minute), signingSecret); code != http.StatusUnauthorized {
		t.Errorf("stale click: HTTP %d, want 401", code)
	}
	if code := sc.click("{not json", now, signingSecret); code != http.StatusBadRequest {
		t.Errorf("malformed click: HTTP %d, want 400", code)
	}
	if code := sc.click(payload("UAPPROVER", notify.ActionPromote, "garbage", msgTS), now, signingSecret); code != http.StatusOK {
		t.Errorf("click with a foreign button value: HTTP %d", code)
	}
	sc.ephemeral("UAPPROVER", "does not name a coalmine rollout")

	// A non-approver is told so, and the rollout still waits.
	if code := sc.click(payload("UINTRUDER", notify.ActionPromote, value, msgTS), now, signingSecret); code != http.StatusOK {
		t.Errorf("non-approver click: HTTP %d", code)
	}
	sc.ephemeral("UINTRUDER", "You are not an approver for it-slack")
	if st := s.status(); st.Gate != "step-2" || len(st.Approvals) != 0 {
		t.Fatalf("after the refused clicks: gate %q approvals %+v", st.Gate, st.Approvals)
	}

	// An approver through the user group promotes; the message says so.
	if code := sc.click(payload("UGROUPIE", notify.ActionPromote, value, msgTS), now, signingSecret); code != http.StatusOK {
		t.Errorf("approver click: HTTP %d", code)
	}
	sc.api.WaitFor(t, "chat.update", func(c slackserver.Call) bool {
		return c["ts"] == msgTS && strings.Contains(c["blocks"], "Promoted by") && strings.Contains(c["blocks"], "@UGROUPIE")
	})
	st := s.waitFor("the approval to pass", func(st workflows.Status) bool { return len(st.Approvals) == 1 })
	if a := st.Approvals[0]; a.By != "slack:UGROUPIE" || a.Decision != "approved" {
		t.Errorf("approval = %+v", a)
	}

	// A second click on the same gate changes nothing.
	if code := sc.click(payload("UAPPROVER", notify.ActionPromote, value, msgTS), now, signingSecret); code != http.StatusOK {
		t.Errorf("second click: HTTP %d", code)
	}
	sc.ephemeral("UAPPROVER", "already promoted this gate")

	if _, err := s.result(run); err != nil {
		t.Fatalf("rollout: %v", err)
	}
	if r := s.route(); r.CanaryWeightBP != 0 || r.Stable.Version != "v2" {
		t.Errorf("gateway after promotion: %+v", r)
	}
	sc.api.WaitFor(t, "chat.update", func(c slackserver.Call) bool {
		return c["ts"] == msgTS && strings.Contains(c["blocks"], "Promoted")
	})
	if n := len(sc.api.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d messages posted for one rollout, want 1", n)
	}
	for _, call := range append(sc.api.Calls("chat.update"), sc.api.Calls("chat.postMessage")...) {
		if strings.Contains(call["text"]+call["blocks"], "xoxb-it-token") || strings.Contains(call["text"]+call["blocks"], token) {
			t.Fatal("a secret reached a Slack message")
		}
	}

	// A click on a rollout that has ended is answered, not acted on.
	if code := sc.click(payload("UAPPROVER", notify.ActionAbort, value, msgTS), now, signingSecret); code != http.StatusOK {
		t.Errorf("click after the end: HTTP %d", code)
	}
	sc.ephemeral("UAPPROVER", "no longer running")
}

// recordingAcker records Socket Mode acknowledgements.
type recordingAcker struct{ acked []string }

func (a *recordingAcker) Ack(req socketmode.Request, _ ...any) error {
	a.acked = append(a.acked, req.EnvelopeID)
	return nil
}

// TestSlackSocketModeAbort aborts a rollout at its gate through a Socket
// Mode envelope handled by the same handler: it is acknowledged, the
// rollout rolls back, and the gateway's traffic is all on stable again.
func TestSlackSocketModeAbort(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-slack-socket", 0.95)
	sc := newSlackClicks(t, s)
	w := s.startWorker()
	defer w.Stop()
	run := s.start(s.plan(`    - setWeight: 30
    - approval: {timeout: 1h}
    - setWeight: 60`, `  notifications: {slack: {channel: "#deploys"}}`))
	s.waitFor("the approval gate", func(st workflows.Status) bool { return st.Gate == "step-2" })
	gateMsg := sc.api.WaitFor(t, "chat.update", slackserver.Contains("blocks", notify.ActionPromote))

	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(payload("UANYONE", notify.ActionAbort, buttonValue(t, gateMsg["blocks"]), gateMsg["ts"])), &cb); err != nil {
		t.Fatal(err)
	}
	ack := &recordingAcker{}
	out := sc.handler.HandleSocketEvent(context.Background(), ack, socketmode.Event{
		Type: socketmode.EventTypeInteractive, Data: cb, Request: &socketmode.Request{EnvelopeID: "env-1"},
	})
	if out != slackbot.OutcomeAborted || len(ack.acked) != 1 || ack.acked[0] != "env-1" {
		t.Fatalf("socket mode click: outcome %s, acks %v", out, ack.acked)
	}
	_, err := s.result(run)
	if msg := rolledBack(t, err); !strings.Contains(msg, "slack:UANYONE aborted it") {
		t.Errorf("rollback reason = %q", msg)
	}
	if r := s.route(); r.CanaryWeightBP != 0 || r.Stable.Version != "v1" {
		t.Errorf("gateway after the abort: %+v", r)
	}
}

// TestSlackStaleGate clicks the button of a gate that timed out and let the
// rollout go on to a second gate: the click is answered with where the
// rollout is now, and the second gate still waits.
func TestSlackStaleGate(t *testing.T) {
	t.Parallel()
	s := newStack(t, "it-slack-stale", 0.95)
	sc := newSlackClicks(t, s)
	w := s.startWorker()
	defer w.Stop()
	run := s.start(s.plan(`    - setWeight: 10
    - approval: {timeout: 1s, onTimeout: promote}
    - approval: {timeout: 1h}
    - setWeight: 60`, `  notifications: {slack: {channel: "#deploys"}}`))
	first := sc.api.WaitFor(t, "chat.update", slackserver.Contains("blocks", `"g\":\"step-2\"`))
	s.waitFor("the second gate", func(st workflows.Status) bool { return st.Gate == "step-3" })

	if code := sc.click(payload("UANYONE", notify.ActionPromote, buttonValue(t, first["blocks"]), first["ts"]), time.Now(), signingSecret); code != http.StatusOK {
		t.Fatalf("stale click: HTTP %d", code)
	}
	sc.ephemeral("UANYONE", "This gate has already passed: the rollout is now at step 3 of 4")
	if st := s.status(); st.Gate != "step-3" || len(st.Approvals) != 1 || st.Approvals[0].Decision != "timed out, promoted" {
		t.Fatalf("after the stale click: gate %q approvals %+v", st.Gate, st.Approvals)
	}
	if _, err := s.update(workflows.UpdateAbort, workflows.Request{By: "test", Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.result(run)
	rolledBack(t, err)
}
