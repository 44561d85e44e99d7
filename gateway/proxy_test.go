package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/coalmine-dev/coalmine/gateway"
	"github.com/coalmine-dev/coalmine/workers/demoagent"
)

func TestProxyForwardsAndRecordsUsage(t *testing.T) {
	stable := agent(t, demoagent.Config{Version: "v1", Tokens: 7, Quality: 1})
	g := startGateway(t, parseConfig(t, `
routes:
  - name: voice
    stable: {version: v1, url: `+stable+`}
`))
	for range 3 {
		code, ver, body := post(t, http.DefaultClient, g.traffic+"/voice/v1/chat/completions", chatBody("What is the capital of France?", false, ""), nil)
		if code != 200 || ver != "v1" || !strings.Contains(body, "Paris") {
			t.Fatalf("got %d %q %s", code, ver, body)
		}
	}
	s := series(stats(t, g, "voice"), "voice", "v1", gateway.RoleStable)
	c := s.Cumulative
	if c.Requests != 3 || c.Errors != 0 || c.TokensOut.Sum != 21 || c.TokensOut.Count != 3 || c.TokensIn.Count != 3 || c.Latency.Count != 3 {
		t.Fatalf("stats %+v", c)
	}
	if c.ToolCalls.Count != 3 || c.ToolCalls.Sum != 0 {
		t.Fatalf("tool calls %+v", c.ToolCalls)
	}
}
