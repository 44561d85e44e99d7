package plans

// Check checks the prometheus provider's block: the server's address, the
// query or the counts and their placeholders, and the names of secrets.
func (p *PrometheusProvider) Check(f Fields, path string) {
	f.URL(path+".address", "address", p.Address, "address: http://prometheus:9090")
	switch {
	case p.Query == "" && p.RawCounts == nil:
		f.Required(path, "query", `query: sum(rate(errors_total{version="{{.Canary.Version}}"}[5m])) (or counts: {total: …, errors: …})`)
	case p.Query != "" && p.RawCounts != nil:
		f.Errorf(path+".counts", "keep query for a number, or counts for a rate judged with confidence", "give query or counts, not both")
	case p.RawCounts != nil:
		p.RawCounts.check(f, path+".counts", `sum by (instance) (coalmine_gateway_requests_total{version="{{.Version}}"})`, f.Template)
	}
	f.Template(path+".query", p.Query)
	f.EnvName(path+".tokenEnv", p.TokenEnv)
	f.HeadersFromEnv(path+".headersFromEnv", p.HeadersFromEnv)
}

// check checks a counts block at path: total and exactly one of errors or
// successes, each checked by source (a PromQL template, a JSON path).
func (c *Counts) check(f Fields, path, example string, source func(path, src string)) {
	if c.Total == "" {
		f.Required(path, "total", "total: "+example)
	}
	switch {
	case c.Errors == "" && c.Successes == "":
		f.Required(path, "errors", "errors: … (the bad outcomes), or successes: … (the good ones)")
	case c.Errors != "" && c.Successes != "":
		f.Errorf(path+".successes", "keep errors for bad outcomes or successes for good ones", "give errors or successes, not both")
	}
	for _, s := range []struct{ field, src string }{{"total", c.Total}, {"errors", c.Errors}, {"successes", c.Successes}} {
		if s.src != "" {
			source(path+"."+s.field, s.src)
		}
	}
}

// Judges is false: a query's number needs a condition, compare or sequential test.
func (*PrometheusProvider) Judges() bool { return false }

// Counts is true: a query, or counts, can read the counters a sequential test needs.
func (*PrometheusProvider) Counts() bool { return true }

// SampleSizes is true with counts (their totals are the sample sizes); a
// query's number carries none.
func (p *PrometheusProvider) SampleSizes() bool { return p.RawCounts != nil }
