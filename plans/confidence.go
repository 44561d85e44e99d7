package plans

// Compare limits by their plan names.
const (
	LimitMaxRelativeIncrease = "maxRelativeIncrease"
	LimitMaxRelativeDecrease = "maxRelativeDecrease"
	LimitMaxAbsolute         = "maxAbsolute"
	LimitMinAbsolute         = "minAbsolute"
)

// ConfidenceJudges reports whether `compare: {method: confidence}` decides
// the compare limit of a gateway stat with confidence; otherwise that
// limit is judged on point estimates (verdicts.md has the table). Rates of
// counted outcomes and latency quantiles have a confidence form; tool calls
// per answer only for maxRelativeIncrease; mean tokens or cost per request
// and session counts have none.
func ConfidenceJudges(stat, limit string) bool {
	switch stat {
	case StatErrorRate, StatSessionErrorRate, StatSuccess, StatLatency, StatTTFT, StatRealtimeFirstDelta:
		return true
	case StatToolCallRate:
		return limit == LimitMaxRelativeIncrease
	}
	return false
}

// Limits lists the names of the limits the compare block sets.
func (c Compare) Limits() []string {
	var out []string
	for _, l := range []struct {
		name string
		set  bool
	}{
		{LimitMaxRelativeIncrease, c.MaxRelativeIncrease != nil}, {LimitMaxRelativeDecrease, c.MaxRelativeDecrease != nil},
		{LimitMaxAbsolute, c.MaxAbsolute != nil}, {LimitMinAbsolute, c.MinAbsolute != nil},
	} {
		if l.set {
			out = append(out, l.name)
		}
	}
	return out
}

// JudgedWithConfidence reports whether `compare: {method: confidence}`
// decides a compare limit of a metric with provider p with confidence, as
// the provider's block says (ProviderBlock.JudgedWithConfidence): a
// gateway stat's limits as ConfidenceJudges says, every limit on a rate
// read in the counts form (prometheus or web counts), and no limit on the
// number a query or JSON path picks, which is judged on point estimates.
func JudgedWithConfidence(p Provider, limit string) bool {
	return p.Block != nil && p.Block.JudgedWithConfidence(limit)
}
