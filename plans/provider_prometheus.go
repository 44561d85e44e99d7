package plans

// Check checks the prometheus provider's block: the server's address, the
// query and its placeholders, and the names of secrets.
func (p *PrometheusProvider) Check(f Fields, path string) {
	f.URL(path+".address", "address", p.Address, "address: http://prometheus:9090")
	if p.Query == "" {
		f.Required(path, "query", `query: sum(rate(errors_total{version="{{.Canary.Version}}"}[5m]))`)
	}
	f.Template(path+".query", p.Query)
	f.EnvName(path+".tokenEnv", p.TokenEnv)
	f.HeadersFromEnv(path+".headersFromEnv", p.HeadersFromEnv)
}

// Judges is false: a query's number needs a condition, compare or sequential test.
func (*PrometheusProvider) Judges() bool { return false }

// Counts is true: a query can read the counters a sequential test needs.
func (*PrometheusProvider) Counts() bool { return true }

// SampleSizes is false: a query's number carries no sample size.
func (*PrometheusProvider) SampleSizes() bool { return false }
