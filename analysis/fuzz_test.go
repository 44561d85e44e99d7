package analysis

import (
	"encoding/json"
	"testing"
)

// FuzzSequentialLook feeds arbitrary counters to each kind of sequential
// test: it must never panic, never return an error for a valid spec, and
// always give a valid verdict with a reason and a state that survives JSON.
func FuzzSequentialLook(f *testing.F) {
	f.Add(uint8(0), int64(38000), int64(190), int64(2000), int64(30), 0.5, 0.3, int64(3))
	f.Add(uint8(1), int64(1000), int64(900), int64(100), int64(80), 0.8, 0.7, int64(-5))
	f.Add(uint8(2), int64(500), int64(400), int64(50), int64(40), 400.0, 340.0, int64(0))
	f.Fuzz(func(t *testing.T, kind uint8, ns, xs, nc, xc int64, sum, sq float64, drift int64) {
		spec := SequentialSpec{Alpha: 0.05, MinEffect: 0.1}
		switch kind % 3 {
		case 0:
			spec.Kind, spec.WorseWhen = KindProportion, WorseHigher
		case 1:
			spec.Kind, spec.WorseWhen, spec.Boundaries = KindHistogram, WorseHigher, []float64{1, 2}
		case 2:
			spec.Kind, spec.WorseWhen = KindBounded, WorseLower
		}
		mk := func(n, x int64, scale float64) Totals {
			return Totals{Count: n, Events: x, Sum: sum * scale, SumSquares: sq * scale,
				Buckets: []Bucket{{Le: 1, Count: x / 2}, {Le: 2, Count: x}}}
		}
		st := SequentialState{}
		for i := int64(1); i <= 3; i++ {
			m, next, err := spec.Look(st, mk(ns*i+drift, xs*i, float64(i)), mk(nc*i-drift, xc*i, float64(i)))
			if err != nil {
				t.Fatalf("Look: %v", err)
			}
			if !m.Verdict.Valid() || m.Reason == "" {
				t.Fatalf("look %d: verdict %q reason %q", i, m.Verdict, m.Reason)
			}
			b, err := json.Marshal(next)
			if err != nil {
				t.Fatalf("state does not marshal: %v", err)
			}
			st = SequentialState{}
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatalf("state does not unmarshal: %v", err)
			}
		}
	})
}
