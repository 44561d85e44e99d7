package replay_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/coalmine-dev/coalmine/plans"
)

// TestRecordedPlansRoundTrip decodes every plan and metric the recorded
// histories carry (workflow and activity inputs) and encodes it again:
// every field recorded must come back with its value, so a change to the
// plan types (such as the provider blocks moving to their providers)
// cannot alter what a running rollout's history holds. Fields added to
// the types since a history was recorded (noDataTimeout) may be added.
// The package links the worker (see replay_test.go), and with it every
// provider's block.
func TestRecordedPlansRoundTrip(t *testing.T) {
	root := testdata(t)
	checked := 0
	for _, f := range histories(t, root) {
		name, _ := filepath.Rel(root, f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var h any
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, data := range payloads(h) {
			var fields map[string]json.RawMessage
			if json.Unmarshal(data, &fields) != nil {
				continue
			}
			if raw, ok := fields["plan"]; ok {
				roundTrip(t, name, raw, &plans.RolloutPlan{})
				checked++
			}
			if raw, ok := fields["metric"]; ok {
				roundTrip(t, name, raw, &plans.Metric{})
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("the recorded histories carry no plan or metric")
	}
	t.Logf("%d plans and metrics round-trip", checked)
}

// roundTrip decodes raw into v and checks that v encodes every field of
// raw with its value.
func roundTrip(t *testing.T, name string, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Errorf("%s: decode %T: %v", name, v, err)
		return
	}
	got, err := json.Marshal(v)
	if err != nil {
		t.Errorf("%s: encode %T: %v", name, v, err)
		return
	}
	var recorded, encoded any
	if err := json.Unmarshal(raw, &recorded); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &encoded); err != nil {
		t.Fatal(err)
	}
	if where := missing(recorded, encoded, ""); where != "" {
		t.Errorf("%s: %T loses %s:\nrecorded %s\nencoded  %s", name, v, where, raw, got)
	}
}

// missing returns the path of the first value of recorded that encoded
// does not hold, or "".
func missing(recorded, encoded any, path string) string {
	switch r := recorded.(type) {
	case map[string]any:
		e, ok := encoded.(map[string]any)
		if !ok {
			return path
		}
		for k, rv := range r {
			if where := missing(rv, e[k], path+"."+k); where != "" {
				return where
			}
		}
		return ""
	case []any:
		e, ok := encoded.([]any)
		if !ok || len(e) != len(r) {
			return path
		}
		for i := range r {
			if where := missing(r[i], e[i], fmt.Sprintf("%s[%d]", path, i)); where != "" {
				return where
			}
		}
		return ""
	}
	if recorded != encoded {
		return path
	}
	return ""
}

// payloads returns the decoded data of every payload in a history's JSON.
func payloads(v any) [][]byte {
	var out [][]byte
	switch v := v.(type) {
	case map[string]any:
		if ps, ok := v["payloads"].([]any); ok {
			for _, p := range ps {
				if m, ok := p.(map[string]any); ok {
					if s, ok := m["data"].(string); ok {
						if b, err := base64.StdEncoding.DecodeString(s); err == nil {
							out = append(out, b)
						}
					}
				}
			}
		}
		for _, c := range v {
			out = append(out, payloads(c)...)
		}
	case []any:
		for _, c := range v {
			out = append(out, payloads(c)...)
		}
	}
	return out
}
