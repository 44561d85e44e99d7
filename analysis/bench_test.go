package analysis

import "testing"

// BenchmarkProportionLook measures one look of the proportion test after 60
// earlier looks (the state as the measure activity holds it in memory).
func BenchmarkProportionLook(b *testing.B) {
	spec := SequentialSpec{Kind: KindProportion, WorseWhen: WorseHigher, Alpha: 0.05, MinEffect: 0.2}
	st, stable, canary := warmProportion(b, spec, 60)
	stable.Count, stable.Events = stable.Count+1140, stable.Events+11
	canary.Count, canary.Events = canary.Count+60, canary.Events+1
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := spec.Look(st, stable, canary); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProportionLookCold measures a look from a state just decoded
// from JSON, which rebuilds the grid sums from the per-look counts.
func BenchmarkProportionLookCold(b *testing.B) {
	spec := SequentialSpec{Kind: KindProportion, WorseWhen: WorseHigher, Alpha: 0.05, MinEffect: 0.2}
	st, stable, canary := warmProportion(b, spec, 60)
	st.cache = nil
	stable.Count, stable.Events = stable.Count+1140, stable.Events+11
	canary.Count, canary.Events = canary.Count+60, canary.Events+1
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := spec.Look(st, stable, canary); err != nil {
			b.Fatal(err)
		}
	}
}

func warmProportion(b *testing.B, spec SequentialSpec, looks int) (SequentialState, Totals, Totals) {
	b.Helper()
	var stable, canary Totals
	_, st, err := spec.Look(SequentialState{}, stable, canary)
	if err != nil {
		b.Fatal(err)
	}
	for k := range looks {
		stable.Count += 1140
		stable.Events += 11 + int64(k%3)
		canary.Count += 60
		canary.Events += int64(k % 2)
		if _, st, err = spec.Look(st, stable, canary); err != nil {
			b.Fatal(err)
		}
	}
	return st, stable, canary
}

// BenchmarkBoundedLook measures one look of the bounded-score test.
func BenchmarkBoundedLook(b *testing.B) {
	spec := SequentialSpec{Kind: KindBounded, WorseWhen: WorseLower, Alpha: 0.05, MinEffect: 0.05}
	_, st, _ := spec.Look(SequentialState{}, Totals{}, Totals{})
	_, st, _ = spec.Look(st, Totals{Count: 9500, Sum: 8075, SumSquares: 7148.75}, Totals{Count: 500, Sum: 400, SumSquares: 340})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := spec.Look(st, Totals{Count: 19000, Sum: 16150, SumSquares: 14297.5}, Totals{Count: 1000, Sum: 800, SumSquares: 680}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConditionEval measures one evaluation of a compiled condition.
func BenchmarkConditionEval(b *testing.B) {
	c, err := CompileCondition("result[0] >= 0.95 && canary <= stable * 1.1")
	if err != nil {
		b.Fatal(err)
	}
	in := Inputs{Result: []float64{0.97}, Stable: []float64{0.1}, Canary: []float64{0.105}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Eval(in); err != nil {
			b.Fatal(err)
		}
	}
}
