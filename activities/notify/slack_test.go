package notify

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/coalmine-dev/coalmine/tests/slackserver"

	"github.com/coalmine-dev/coalmine/activities/api"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sampleCard() api.Card {
	return api.Card{
		App: "voice-agent", Stable: "v1", Canary: "v2", Phase: "Waiting",
		Step: 9, Steps: 10, StepText: "approval", Weight: 50, Event: "gate",
		Verdicts: []api.VerdictLine{
			{Metric: "eval-pass-rate", Verdict: "Pass", Detail: "0.95 ≥ 0.92"},
			{Metric: "error-rate", Verdict: "Inconclusive", Detail: "canary 0.011 vs stable 0.010 (n=412)"},
		},
		UIURL: "http://127.0.0.1:8233/namespaces/default/workflows/coalmine%2Fvoice-agent",
		Gate: &api.Gate{ID: "step-9", WorkflowID: "coalmine/voice-agent", RunID: "run-1", Approvers: []string{"U024BE7LH", "S0614TZR7"},
			Deadline: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), OnTimeout: "rollback"},
	}
}

func TestCardBlocksGolden(t *testing.T) {
	decided := sampleCard()
	decided.Decision = &api.Decision{Action: "promote", Who: "slack:U024BE7LH", At: time.Date(2026, 11, 23, 14, 5, 0, 0, time.UTC)}
	decided.Phase = "Progressing"
	rolledBack := api.Card{App: "voice-agent", Stable: "v1", Canary: "v3", Phase: "RolledBack", Step: 3, Steps: 10, Weight: 0, Event: "rolledBack",
		Text: "Rolled back at step 3 (analysis): tool-call-rate failed: canary 0.39 is 1.3× stable's 0.30, above the 1.2× allowed."}
	for name, c := range map[string]api.Card{"gate": sampleCard(), "decided": decided, "rolledback": rolledBack} {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(Blocks(c), "", "  ")
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
	if b, _ := json.Marshal(Blocks(decided)); strings.Contains(string(b), ActionPromote) {
		t.Error("a decided card still carries buttons")
	}
}

func TestButtonValueRoundTrip(t *testing.T) {
	c := sampleCard()
	var value string
	for _, b := range Blocks(c) {
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

func TestSlackUpsert(t *testing.T) {
	srv := slackserver.New(t, nil)
	s := NewSlack("xoxb-test-token", srv.GetAPIURL(), nil)
	ctx := context.Background()
	c := sampleCard()

	posted, err := s.Upsert(ctx, "#deploys", api.Posted{}, c)
	if err != nil {
		t.Fatal(err)
	}
	if posted.TS == "" || posted.Channel == "" {
		t.Fatalf("post returned %+v", posted)
	}
	first := srv.Calls("chat.postMessage")[0]
	if first["text"] != c.Fallback() || first["channel"] != "#deploys" || !strings.Contains(first["blocks"], ActionPromote) {
		t.Errorf("chat.postMessage got %v", first)
	}
	if first["token"] != "xoxb-test-token" && first["auth"] != "Bearer xoxb-test-token" {
		t.Errorf("the bot token did not reach Slack: %v", first)
	}
	if strings.Contains(first["text"]+first["blocks"], "xoxb-test-token") {
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
	updates := srv.Calls("chat.update")
	if len(updates) != 1 || updates[0]["ts"] != posted.TS || !strings.Contains(updates[0]["blocks"], "Promoted") {
		t.Fatalf("chat.update calls: %v", updates)
	}

	// A message that is gone is posted anew rather than failing the rollout.
	fresh, err := s.Upsert(ctx, "#deploys", api.Posted{Channel: posted.Channel, TS: "gone"}, c)
	if err != nil || fresh.TS == "" || fresh.TS == "gone" {
		t.Fatalf("upsert of a gone message = %+v, %v", fresh, err)
	}

	if _, err := s.Upsert(ctx, "", api.Posted{}, c); err == nil || !strings.Contains(err.Error(), "notifications.slack.channel") {
		t.Errorf("post without channel: %v", err)
	}
}
