package plans

// Check checks the gateway provider's block: the statistic, its quantile,
// and the admin API's URL where the router is not the gateway.
func (g *GatewayProvider) Check(f Fields, path string) {
	stats := []string{StatErrorRate, StatSuccess, StatLatency, StatTTFT, StatTokensIn, StatTokensOut, StatCost, StatToolCallRate,
		StatSessions, StatSessionErrorRate, StatRealtimeFirstDelta}
	if g.Stat == "" {
		f.Required(path, "stat", "stat: error_rate")
	} else {
		f.OneOf(path+".stat", "gateway statistic", g.Stat, stats)
	}
	if g.Quantile != 0 && g.Stat != StatLatency && g.Stat != StatTTFT && g.Stat != StatRealtimeFirstDelta {
		f.Errorf(path+".quantile", "remove it", "quantile applies to latency, ttft and realtime_first_delta, not %s", g.Stat)
	}
	if g.Quantile < 0 || g.Quantile >= 1 {
		f.Errorf(path+".quantile", "write a quantile such as 0.95", "quantile %v is not between 0 and 1", g.Quantile)
	}
	if g.URL == "" && f.Spec().Traffic.Gateway == nil && !f.Unusable("spec.traffic") {
		f.Errorf(path, "add url: http://127.0.0.1:8480 (the gateway's admin API)", "the gateway provider needs url when the router is not the gateway")
	} else if g.URL != "" {
		f.URL(path+".url", "url", g.URL, "url: http://127.0.0.1:8480")
	}
	f.EnvName(path+".tokenEnv", g.TokenEnv)
}

// Judges is false: a statistic needs a condition, compare or sequential test.
func (*GatewayProvider) Judges() bool { return false }

// Counts is true: the gateway reports the counts of each version.
func (*GatewayProvider) Counts() bool { return true }

// SampleSizes is true: each statistic comes with its number of requests.
func (*GatewayProvider) SampleSizes() bool { return true }
