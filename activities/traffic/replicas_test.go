package traffic

import (
	"errors"
	"testing"

	"github.com/coalmine-dev/coalmine/activities/api"
)

func TestSplitReplicas(t *testing.T) {
	cases := []struct {
		total          int32
		weight         float64
		stable, canary int32
		err            bool
	}{
		{10, 0, 10, 0, false},
		{10, 1, 9, 1, false}, // never 0 pods for a weight above 0
		{10, 25, 7, 3, false},
		{10, 99, 1, 9, false}, // never 0 stable pods below 100
		{10, 100, 0, 10, false},
		{100, 1, 99, 1, false},
		{3, 50, 1, 2, false},
		{1, 5, 0, 0, true},
		{10, 101, 0, 0, true},
	}
	for _, c := range cases {
		s, k, err := SplitReplicas(c.total, c.weight)
		if c.err {
			if !errors.Is(err, api.ErrInvalidConfig) {
				t.Errorf("%d replicas at %v%%: err %v, want invalid config", c.total, c.weight, err)
			}
			continue
		}
		if err != nil || s != c.stable || k != c.canary {
			t.Errorf("%d replicas at %v%%: %d/%d (%v), want %d/%d", c.total, c.weight, s, k, err, c.stable, c.canary)
		}
	}
}
