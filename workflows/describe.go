package workflows

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/coalmine-dev/coalmine/plans"
)

// Step kinds, as written in plans.
const (
	kindSetWeight        = "setWeight"
	kindPause            = "pause"
	kindApproval         = "approval"
	kindAnalysis         = "analysis"
	kindSetSegmentWeight = "setSegmentWeight"
	kindShadow           = "shadow"
)

// stepKind returns the kind of a step, or "" for a step with no field set.
func stepKind(s plans.Step) string {
	switch {
	case s.SetWeight != nil:
		return kindSetWeight
	case s.Pause != nil:
		return kindPause
	case s.Approval != nil:
		return kindApproval
	case s.Analysis != nil:
		return kindAnalysis
	case s.SetSegmentWeight != nil:
		return kindSetSegmentWeight
	case s.Shadow != nil:
		return kindShadow
	}
	return ""
}

// describeStep renders a step as a person would say it: "setWeight 25",
// "pause 5m", "pause (gate)", "approval (timeout 24h)".
func describeStep(s plans.Step) string {
	switch stepKind(s) {
	case kindSetWeight:
		return "setWeight " + pct(*s.SetWeight)
	case kindPause:
		if s.Pause.Duration == nil || s.Pause.Duration.Duration <= 0 {
			return "pause (gate)"
		}
		return "pause " + s.Pause.Duration.String()
	case kindApproval:
		return "approval (timeout " + approvalTimeout(s.Approval).String() + ")"
	case kindAnalysis:
		return "analysis " + strings.Join(s.Analysis.Templates, ", ")
	case kindSetSegmentWeight:
		return fmt.Sprintf("setSegmentWeight %s %s", s.SetSegmentWeight.Segment, pct(s.SetSegmentWeight.Weight))
	case kindShadow:
		return fmt.Sprintf("shadow %s%% for %s", pct(s.Shadow.Percent), s.Shadow.Duration)
	}
	return "empty step"
}

func describeSteps(steps []plans.Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = describeStep(s)
	}
	return out
}

// stepLabel is "step 4 of 9, setWeight 25".
func stepLabel(i int, steps []string) string {
	if i < 0 || i >= len(steps) {
		return fmt.Sprintf("step %d of %d", i+1, len(steps))
	}
	return fmt.Sprintf("step %d of %d, %s", i+1, len(steps), steps[i])
}

// pct formats a percentage without trailing zeros: 25, 0.5, 12.25.
func pct(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// approvalTimeout is the approval's timeout, 24h when the plan gives none.
func approvalTimeout(a *plans.Approval) plans.Duration {
	if a.Timeout.Duration <= 0 {
		return plans.Duration{Duration: defaultApprovalTimeout}
	}
	return a.Timeout
}

// sentence trims a trailing period and spaces so that reasons can be joined
// into one sentence.
func sentence(s string) string {
	return strings.TrimRight(strings.TrimSpace(s), ".")
}
