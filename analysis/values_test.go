package analysis

import (
	"encoding/json"
	"math"
	"testing"
)

func TestValuesJSON(t *testing.T) {
	tests := []struct {
		name string
		in   Values
		want string
	}{
		{"nil", nil, `null`},
		{"numbers", Values{0.5, 2, 1e-9}, `[0.5,2,1e-09]`},
		{"non-finite", Values{math.NaN(), math.Inf(1), math.Inf(-1)}, `["NaN","+Inf","-Inf"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			if err != nil || string(b) != tt.want {
				t.Fatalf("Marshal = %s, %v; want %s", b, err, tt.want)
			}
			var back Values
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if len(back) != len(tt.in) {
				t.Fatalf("round trip %v, want %v", back, tt.in)
			}
			for i := range back {
				if back[i] != tt.in[i] && !(math.IsNaN(back[i]) && math.IsNaN(tt.in[i])) {
					t.Fatalf("round trip %v, want %v", back, tt.in)
				}
			}
		})
	}
	var v Values
	if err := json.Unmarshal([]byte(`["fast"]`), &v); err == nil {
		t.Fatal("no error for a non-number string")
	}
}

func TestMeasurementWithNaNMarshals(t *testing.T) {
	m := Compare("latency", math.NaN(), math.Inf(1), 0, 0, CompareLimits{MaxAbsolute: fp(1)})
	if _, err := json.Marshal(m); err != nil {
		t.Fatalf("measurement with NaN does not marshal: %v", err)
	}
}
