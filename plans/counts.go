package plans

// Counts names the raw counts of a rate: how many trials (requests, eval
// cases) and how many of them had the outcome. Give total and one of errors
// or successes; for the prometheus provider they are PromQL, for the web
// provider JSON paths.
type Counts struct {
	// Total counts the trials: requests, eval cases.
	Total string `json:"total"`
	// Errors counts the bad outcomes among them (errors, failed cases): the
	// rate judged is errors / total, and maxRelativeIncrease on it uses the
	// e-process of the sequential test.
	Errors string `json:"errors,omitempty"`
	// Successes counts the good outcomes (successful requests, passed
	// cases): the rate judged is successes / total.
	Successes string `json:"successes,omitempty"`
}

// Outcome returns the source of the counted outcome (errors or successes)
// and whether it counts successes.
func (c Counts) Outcome() (src string, successes bool) {
	if c.Successes != "" {
		return c.Successes, true
	}
	return c.Errors, false
}

// Check checks a counts block at path, for a provider's Check: total and
// exactly one of errors or successes, each checked by source (a PromQL
// template, a JSON path).
func (c *Counts) Check(f Fields, path, example string, source func(path, src string)) {
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
