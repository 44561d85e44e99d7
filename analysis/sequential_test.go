package analysis

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// closeTo fails unless got is within rel (relative) of want.
func closeTo(t *testing.T, what string, got, want, rel float64) {
	t.Helper()
	if math.Abs(got-want) > rel*math.Abs(want) {
		t.Errorf("%s = %.6g, want %.6g (±%g relative)", what, got, want, rel)
	}
}

// look runs one look and fails the test on an error.
func look(t *testing.T, s SequentialSpec, st SequentialState, stable, canary Totals) (Measurement, SequentialState) {
	t.Helper()
	m, next, err := s.Look(st, stable, canary)
	if err != nil {
		t.Fatalf("Look: %v", err)
	}
	return m, next
}

// started returns a state whose baseline is all-zero counters.
func started(t *testing.T, s SequentialSpec, stable, canary Totals) SequentialState {
	t.Helper()
	m, st := look(t, s, SequentialState{}, stable, canary)
	if m.Verdict != Inconclusive || !m.Pending {
		t.Fatalf("baseline look = %s (pending %v), want pending Inconclusive", m.Verdict, m.Pending)
	}
	return st
}

// TestProportionTable checks the unit-test table of ANALYSIS.md §1
// (α = 0.05, m = 0.2; each row's looks start from a zero baseline).
func TestProportionTable(t *testing.T) {
	spec := SequentialSpec{Kind: KindProportion, WorseWhen: WorseHigher, Alpha: 0.05, MinEffect: 0.2}
	tests := []struct {
		name   string
		looks  [][4]int64 // n_c, n_s, x_c, x_s (increments)
		wantF  float64
		wantP  float64
		wantV  Verdict
		reason string
	}{
		{"fail", [][4]int64{{2000, 38000, 30, 190}}, 664.9, 0.02557, Fail, "canary error rate 1.5% (30 of 2000) vs stable's 0.5% (190 of 38000), 3×"},
		{"inconclusive small", [][4]int64{{2000, 38000, 10, 190}}, 0.08706, 0.2796, Inconclusive, "not yet shown either way"},
		{"inconclusive larger", [][4]int64{{20000, 380000, 100, 1900}}, 0.01391, 0.5279, Inconclusive, "not yet shown either way"},
		{"pass", [][4]int64{{200000, 3800000, 1000, 19000}}, 2.388e-4, 5.717e5, Pass, "no regression"},
		{"two looks, w 5 to 25%", [][4]int64{{1000, 19000, 15, 95}, {5000, 15000, 75, 75}}, 2.455e7, 0.01268, Fail, "regression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := started(t, spec, Totals{}, Totals{})
			var stable, canary Totals
			var m Measurement
			for _, l := range tt.looks {
				canary.Count += l[0]
				stable.Count += l[1]
				canary.Events += l[2]
				stable.Events += l[3]
				m, st = look(t, spec, st, stable, canary)
			}
			closeTo(t, "E^F", m.Result[0], tt.wantF, 1e-3)
			closeTo(t, "E^P", m.Result[1], tt.wantP, 1e-3)
			if m.Verdict != tt.wantV || !strings.Contains(m.Reason, tt.reason) {
				t.Errorf("verdict %s %q, want %s containing %q", m.Verdict, m.Reason, tt.wantV, tt.reason)
			}
			if final := tt.wantV != Inconclusive; m.Final != final || m.Pending == final {
				t.Errorf("final %v pending %v for %s", m.Final, m.Pending, m.Verdict)
			}
		})
	}
}

// TestProportionCrossCheck checks the single-alternative likelihood ratio
// of ANALYSIS.md §1 row 1: θ1 = log 3 against θ0 = log 1.2.
func TestProportionCrossCheck(t *testing.T) {
	lr := lookLogLik(math.Log(3), 2000, 38000, 30, 190) - lookLogLik(math.Log(1.2), 2000, 38000, 30, 190)
	closeTo(t, "log LR", lr, 8.70956, 1e-5)
	pi := func(theta float64) float64 { return 2000 * math.Exp(theta) / (2000*math.Exp(theta) + 38000) }
	closeTo(t, "π(1.2)", pi(math.Log(1.2)), 0.0594059, 1e-5)
	closeTo(t, "π(3)", pi(math.Log(3)), 0.1363636, 1e-5)
}

func TestProportionWorseLower(t *testing.T) {
	// Success counts: 1970 of 2000 canary successes (30 failures) is row 1 again.
	spec := SequentialSpec{Kind: KindProportion, WorseWhen: WorseLower, Alpha: 0.05, MinEffect: 0.2, Metric: "task failure rate"}
	st := started(t, spec, Totals{}, Totals{})
	m, _ := look(t, spec, st, Totals{Count: 38000, Events: 38000 - 190}, Totals{Count: 2000, Events: 1970})
	closeTo(t, "E^F", m.Result[0], 664.9, 1e-3)
	if m.Verdict != Fail || !strings.Contains(m.Reason, "task failure rate") {
		t.Fatalf("verdict %s %q", m.Verdict, m.Reason)
	}
}

// TestHistogramTable checks ANALYSIS.md §3: one look, B = {0.25, 0.5, 1,
// 2.5, 5}, m = 0.2, α = 0.05.
func TestHistogramTable(t *testing.T) {
	les := []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	stableCum := []int64{7600, 19000, 30400, 34960, 36860, 37810, 37962, 37996}
	canaryCum := []int64{380, 960, 1560, 1780, 1880, 1970, 1994, 2000}
	hist := func(n int64, cum []int64) Totals {
		t := Totals{Count: n}
		for i, le := range les {
			t.Buckets = append(t.Buckets, Bucket{Le: le, Count: cum[i]})
		}
		return t
	}
	zero := func() Totals { return hist(0, make([]int64, len(les))) }
	spec := SequentialSpec{Kind: KindHistogram, WorseWhen: WorseHigher, Alpha: 0.05, MinEffect: 0.2, Boundaries: []float64{5, 0.25, 0.5, 1, 2.5}}
	st := started(t, spec, zero(), zero())
	m, st := look(t, spec, st, hist(38000, stableCum), hist(2000, canaryCum))
	want := []struct{ f, p float64 }{{0.005658, 0.2397}, {0.3968, 0.01570}, {1.764e4, 0.01164}, {664.9, 0.02557}, {1.381, 0.1037}}
	ev := spec.evidence(st)
	if len(ev) != len(want) {
		t.Fatalf("%d boundaries tested, want %d", len(ev), len(want))
	}
	for i, w := range want {
		closeTo(t, "E^F at "+fmtNum(st.Boundaries[i]), math.Exp(ev[i].logF), w.f, 1e-3)
		closeTo(t, "E^P at "+fmtNum(st.Boundaries[i]), math.Exp(ev[i].logP), w.p, 1e-3)
	}
	closeTo(t, "mean E^F", m.Result[0], 3661, 1e-3)
	closeTo(t, "min E^P", m.Result[1], 0.01164, 1e-3)
	if m.Verdict != Fail || !strings.Contains(m.Reason, "above 1 in 6% of 2000 requests vs stable's 3% of 38000 (2×)") {
		t.Fatalf("verdict %s %q", m.Verdict, m.Reason)
	}
}

// TestHistogramCallerReusesBuckets checks that the state does not alias the
// caller's bucket slice, which a caller keeping running totals updates in place.
func TestHistogramCallerReusesBuckets(t *testing.T) {
	spec := SequentialSpec{Kind: KindHistogram, WorseWhen: WorseHigher, Alpha: 0.05, MinEffect: 0.2, Boundaries: []float64{1}}
	stable := Totals{Buckets: []Bucket{{Le: 1}}}
	canary := Totals{Buckets: []Bucket{{Le: 1}}}
	st := started(t, spec, stable, canary)
	stable.Count, stable.Buckets[0].Count = 38000, 38000-190
	canary.Count, canary.Buckets[0].Count = 2000, 2000-30
	m, _ := look(t, spec, st, stable, canary)
	closeTo(t, "E^F", m.Result[0], 664.9, 1e-3)
}

func TestHistogramDefaultBoundaries(t *testing.T) {
	les := []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	cum := []int64{100, 300, 500, 800, 950, 995, 1000}
	pre := Totals{Count: 1000}
	for i, le := range les {
		pre.Buckets = append(pre.Buckets, Bucket{Le: le, Count: cum[i]})
	}
	spec := SequentialSpec{Kind: KindHistogram, WorseWhen: WorseHigher, Alpha: 0.05}
	st := started(t, spec, pre, Totals{})
	// F ≥ 0.5 from le=0.5; at least 1% above up to le=2.5 (5 has 0.5% above).
	if got := st.Boundaries; len(got) != 3 || got[0] != 0.5 || got[2] != 2.5 {
		t.Fatalf("boundaries = %v, want [0.5 1 2.5]", got)
	}
	m, st2 := look(t, spec, SequentialState{}, Totals{Count: 10, Buckets: []Bucket{{Le: 1, Count: 5}}}, Totals{})
	if m.Verdict != Inconclusive || !m.Pending || st2.Started || !strings.Contains(m.Reason, "100 needed") {
		t.Fatalf("too little baseline: %s pending %v started %v %q", m.Verdict, m.Pending, st2.Started, m.Reason)
	}
}

// TestBoundedTable checks ANALYSIS.md §4 (a = 0.025, two identical looks).
func TestBoundedTable(t *testing.T) {
	const a = 0.025
	var c ArmCS
	c.add(500, 400, 340, a)
	lo, hi := c.Bounds()
	closeTo(t, "canary L after look 1", lo, 0.7175, 1e-3)
	closeTo(t, "canary U after look 1", hi, 0.8825, 1e-3)
	var b EBBound
	lamProbe := b
	lamProbe.add(500, 400, 340, a, false)
	closeTo(t, "λ look 1", lamProbe.SumLN/500, 0.09744, 1e-3)
	closeTo(t, "V look 1", lamProbe.SumPsiV/(-math.Log1p(-0.0974404)-0.0974404), 65, 1e-3)
	c.add(500, 400, 340, a)
	lo, hi = c.Bounds()
	closeTo(t, "λ look 2", (c.Lower.SumLN-lamProbe.SumLN)/500, 0.1625, 1e-3)
	closeTo(t, "canary L", lo, 0.7668, 1e-3)
	closeTo(t, "canary U", hi, 0.8332, 1e-3)
	var s ArmCS
	s.add(9500, 8075, 7148.75, a)
	s.add(9500, 8075, 7148.75, a)
	lo, hi = s.Bounds()
	closeTo(t, "stable L", lo, 0.8420, 1e-3)
	closeTo(t, "stable U", hi, 0.8580, 1e-3)
	var h ArmCS
	h.add(500, 400, 0, a)
	h.add(500, 400, 0, a)
	lo, _ = h.Bounds()
	closeTo(t, "Hoeffding canary L", lo, 0.7441, 1e-3)

	tests := []struct {
		name  string
		delta float64
		want  Verdict
	}{{"absolute margin 0.02", 0.02, Inconclusive}, {"absolute margin 0", 0, Fail}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := SequentialSpec{Kind: KindBounded, WorseWhen: WorseLower, Alpha: 0.05, MinEffect: tt.delta, AbsoluteEffect: true, Metric: "quality"}
			st := started(t, spec, Totals{}, Totals{})
			var m Measurement
			for i := int64(1); i <= 2; i++ {
				m, st = look(t, spec, st, Totals{Count: 9500 * i, Sum: 8075 * float64(i), SumSquares: 7148.75 * float64(i)}, Totals{Count: 500 * i, Sum: 400 * float64(i), SumSquares: 340 * float64(i)})
			}
			if m.Verdict != tt.want {
				t.Fatalf("verdict %s, want %s: %s", m.Verdict, tt.want, m.Reason)
			}
			closeTo(t, "reported canary L", m.Result[0], 0.7668, 1e-3)
		})
	}
}

func TestSequentialStateRoundTrip(t *testing.T) {
	spec := SequentialSpec{Kind: KindProportion, WorseWhen: WorseHigher, Alpha: 0.05, MinEffect: 0.2}
	st := started(t, spec, Totals{}, Totals{})
	_, st = look(t, spec, st, Totals{Count: 19000, Events: 95}, Totals{Count: 1000, Events: 15})
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back SequentialState
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.cache != nil {
		t.Fatal("cache survived JSON")
	}
	m1, _ := look(t, spec, st, Totals{Count: 34000, Events: 170}, Totals{Count: 6000, Events: 90})
	m2, _ := look(t, spec, back, Totals{Count: 34000, Events: 170}, Totals{Count: 6000, Events: 90})
	closeTo(t, "E^F after round trip", m2.Result[0], m1.Result[0], 1e-12)
	closeTo(t, "E^F two looks", m1.Result[0], 2.455e7, 1e-3)
	// The earlier state is untouched by the later look: looking again from it gives the same.
	m3, _ := look(t, spec, st, Totals{Count: 34000, Events: 170}, Totals{Count: 6000, Events: 90})
	closeTo(t, "E^F from reused state", m3.Result[0], m1.Result[0], 1e-12)
}

func TestSequentialLookEdges(t *testing.T) {
	spec := SequentialSpec{Kind: KindProportion, WorseWhen: WorseHigher, Alpha: 0.05, MinEffect: 0.2, MinSamples: 1e7}
	t.Run("counter reset", func(t *testing.T) {
		st := started(t, spec, Totals{Count: 50000, Events: 500}, Totals{Count: 9000, Events: 90})
		// The canary restarted: its counters are below the baseline, so the totals are the increment.
		m, st := look(t, spec, st, Totals{Count: 50000 + 38000, Events: 500 + 190}, Totals{Count: 2000, Events: 30})
		closeTo(t, "E^F after reset", m.Result[0], 664.9, 1e-3)
		if st.CanarySamples != 2000 || st.StableSamples != 38000 {
			t.Fatalf("samples %d/%d", st.CanarySamples, st.StableSamples)
		}
	})
	t.Run("decision sticks", func(t *testing.T) {
		st := started(t, spec, Totals{}, Totals{})
		m, st := look(t, spec, st, Totals{Count: 38000, Events: 190}, Totals{Count: 2000, Events: 30})
		if m.Verdict != Fail {
			t.Fatalf("verdict %s", m.Verdict)
		}
		m2, _ := look(t, spec, st, Totals{Count: 380000, Events: 190}, Totals{Count: 20000, Events: 30})
		if m2.Verdict != Fail || !m2.Final || m2.Reason != m.Reason || m2.Result[0] != m.Result[0] {
			t.Fatalf("second look %s final %v %q", m2.Verdict, m2.Final, m2.Reason)
		}
	})
	t.Run("min samples holds back pass only", func(t *testing.T) {
		st := started(t, spec, Totals{}, Totals{})
		m, _ := look(t, spec, st, Totals{Count: 3800000, Events: 19000}, Totals{Count: 200000, Events: 1000})
		if m.Verdict != Inconclusive || !strings.Contains(m.Reason, "200000 of the 10000000 canary samples") {
			t.Fatalf("verdict %s %q", m.Verdict, m.Reason)
		}
	})
	t.Run("no canary requests", func(t *testing.T) {
		st := started(t, spec, Totals{}, Totals{})
		m, _ := look(t, spec, st, Totals{Count: 1000, Events: 10}, Totals{})
		if m.Verdict != Inconclusive || !m.Pending {
			t.Fatalf("verdict %s pending %v", m.Verdict, m.Pending)
		}
	})
	t.Run("bad counters are an error verdict", func(t *testing.T) {
		st := started(t, spec, Totals{}, Totals{})
		m, next := look(t, spec, st, Totals{Count: 10, Events: 20}, Totals{Count: 10})
		if m.Verdict != Error || next.PrevStable.Count != 0 {
			t.Fatalf("verdict %s, state advanced to %+v", m.Verdict, next.PrevStable)
		}
	})
	t.Run("state of another kind", func(t *testing.T) {
		other := SequentialSpec{Kind: KindBounded, WorseWhen: WorseLower, Alpha: 0.05}
		st := started(t, spec, Totals{}, Totals{})
		if _, _, err := other.Look(st, Totals{}, Totals{}); err == nil {
			t.Fatal("no error for a proportion state in a bounded test")
		}
	})
	t.Run("scores outside 0..1", func(t *testing.T) {
		b := SequentialSpec{Kind: KindBounded, WorseWhen: WorseLower, Alpha: 0.05}
		st := started(t, b, Totals{}, Totals{})
		m, _ := look(t, b, st, Totals{Count: 10, Sum: 20, SumSquares: 40}, Totals{Count: 10, Sum: 5, SumSquares: 3})
		if m.Verdict != Error || !strings.Contains(m.Reason, "not in [0, 1]") {
			t.Fatalf("verdict %s %q", m.Verdict, m.Reason)
		}
	})
}

func TestSequentialSpecValidate(t *testing.T) {
	ok := SequentialSpec{Kind: KindProportion, WorseWhen: WorseHigher, Alpha: 0.05, MinEffect: 0.1}
	tests := []struct {
		name    string
		mod     func(*SequentialSpec)
		wantErr string
	}{
		{"ok", func(*SequentialSpec) {}, ""},
		{"kind", func(s *SequentialSpec) { s.Kind = "ratio" }, "kind"},
		{"direction", func(s *SequentialSpec) { s.WorseWhen = "up" }, "worseWhen"},
		{"alpha 0", func(s *SequentialSpec) { s.Alpha = 0 }, "alpha"},
		{"alpha 1", func(s *SequentialSpec) { s.Alpha = 1 }, "alpha"},
		{"negative effect", func(s *SequentialSpec) { s.MinEffect = -0.1 }, "minEffect"},
		{"NaN effect", func(s *SequentialSpec) { s.MinEffect = math.NaN() }, "minEffect"},
		{"negative min samples", func(s *SequentialSpec) { s.MinSamples = -1 }, "minSamples"},
		{"boundaries on proportion", func(s *SequentialSpec) { s.Boundaries = []float64{1} }, "boundaries"},
		{"absolute on proportion", func(s *SequentialSpec) { s.AbsoluteEffect = true }, ""},
		{"absolute on proportion too big", func(s *SequentialSpec) { s.AbsoluteEffect = true; s.MinEffect = 1 }, "rate difference"},
		{"absolute on histogram", func(s *SequentialSpec) { s.Kind = KindHistogram; s.AbsoluteEffect = true }, "absoluteEffect"},
		{"lower latency", func(s *SequentialSpec) { s.Kind = KindHistogram; s.WorseWhen = WorseLower }, "histograms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.mod(&s)
			err := s.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
			if tt.wantErr != "" {
				if _, _, err := s.Look(SequentialState{}, Totals{}, Totals{}); err == nil {
					t.Fatal("Look accepted an invalid spec")
				}
			}
		})
	}
}

// TestProportionAbsoluteMargin checks ANALYSIS.md §1's absolute-margin
// cross-check on row 1: α_s = 0.01, stable CS [0.0034522, 0.0069505],
// δ = 0.0025 → R0 = 1.72417, E^F = 3.506, Inconclusive.
func TestProportionAbsoluteMargin(t *testing.T) {
	lo, hi := rateCS(190, 38000, 0.01)
	closeTo(t, "stable CS lower", lo, 0.0034522, 1e-4)
	closeTo(t, "stable CS upper", hi, 0.0069505, 1e-4)
	closeTo(t, "R0", 1+0.0025/lo, 1.72417, 1e-4)
	spec := SequentialSpec{Kind: KindProportion, WorseWhen: WorseHigher, Alpha: 0.05, MinEffect: 0.0025, AbsoluteEffect: true}
	st := started(t, spec, Totals{}, Totals{})
	m, _ := look(t, spec, st, Totals{Count: 38000, Events: 190}, Totals{Count: 2000, Events: 30})
	closeTo(t, "E^F", m.Result[0], 3.506, 1e-3)
	if m.Verdict != Inconclusive || !strings.Contains(m.Reason, "25 needed") {
		t.Fatalf("verdict %s %q", m.Verdict, m.Reason)
	}
	m, _ = look(t, spec, st, Totals{Count: 38000, Events: 190}, Totals{Count: 2000, Events: 60})
	if m.Verdict != Fail {
		t.Fatalf("3%% against 0.5%% with a 0.25-point margin: %s %q", m.Verdict, m.Reason)
	}
}

func TestRateCS(t *testing.T) {
	tests := []struct {
		name   string
		x, n   int64
		lo, hi float64 // expected bounds, or -1 to only check containment
	}{
		{"no trials", 0, 0, 0, 1},
		{"no events", 0, 1000, 0, -1},
		{"all events", 1000, 1000, -1, 1},
		{"half", 500, 1000, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi := rateCS(tt.x, tt.n, 0.05)
			if tt.lo >= 0 && lo != tt.lo || tt.hi >= 0 && hi != tt.hi {
				t.Fatalf("CS = [%v, %v], want [%v, %v]", lo, hi, tt.lo, tt.hi)
			}
			if tt.n > 0 {
				p := float64(tt.x) / float64(tt.n)
				if lo > p || hi < p || lo < 0 || hi > 1 {
					t.Fatalf("CS [%v, %v] does not hold %v", lo, hi, p)
				}
			}
		})
	}
}
