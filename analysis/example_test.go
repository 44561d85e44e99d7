package analysis_test

import (
	"fmt"

	"github.com/coalmine-dev/coalmine/analysis"
)

func ExampleEvaluateConditions() {
	success, err := analysis.CompileCondition("result[0] >= 0.95")
	if err != nil {
		fmt.Println(err)
		return
	}
	m := analysis.EvaluateConditions(success, nil, analysis.Inputs{Result: []float64{0.97}})
	fmt.Println(m.Verdict, "-", m.Reason)
	// Output: Pass - result 0.97 met the success condition `result[0] >= 0.95`
}

func ExampleSequentialSpec_Look() {
	spec := analysis.SequentialSpec{Kind: analysis.KindProportion, WorseWhen: analysis.WorseHigher, Alpha: 0.05, MinEffect: 0.2}
	// The first look records the counters as a baseline.
	_, st, err := spec.Look(analysis.SequentialState{}, analysis.Totals{}, analysis.Totals{})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A minute later: cumulative requests and errors per version.
	m, _, err := spec.Look(st, analysis.Totals{Count: 38000, Events: 190}, analysis.Totals{Count: 2000, Events: 30})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Verdict, "-", m.Reason)
	// Output: Fail - regression: canary error rate 1.5% (30 of 2000) vs stable's 0.5% (190 of 38000), 3×; worse by more than 20%, shown at alpha 0.05 (evidence 664.9 ≥ 20)
}

func ExampleAssess() {
	var h analysis.History
	h.Add(analysis.Measurement{Verdict: analysis.Pass, Reason: "error rate 0.4%"})
	h.Add(analysis.Measurement{Verdict: analysis.Fail, Reason: "error rate 3.1%"})
	a := analysis.Assess(h, analysis.Limits{}, false)
	fmt.Println(a.Phase, "-", a.Reason)
	// Output: Failed - 1 of 2 measurements failed, above the failure limit of 0; last: error rate 3.1%
}
