package plans

import "strings"

// Check checks the web provider's block: the URL and body with their
// placeholders, the method, the JSON path or counts and the names of secrets.
func (w *WebProvider) Check(f Fields, path string) {
	f.URL(path+".url", "url", w.URL, "url: http://evals/api/run?suite=voice")
	f.Template(path+".url", w.URL)
	f.Template(path+".body", w.Body)
	if w.Method != "" {
		f.OneOf(path+".method", "method", w.Method, []string{"GET", "POST"})
	}
	jsonPath := func(p, src string) {
		if !strings.HasPrefix(src, "$") {
			f.Errorf(p, "start it at the root, e.g. $.passRate", "JSON path %q does not start with $", src)
		}
	}
	switch {
	case w.JSONPath == "" && w.RawCounts == nil:
		f.Required(path, "jsonPath", "jsonPath: $.passRate (or counts: {successes: $.passed, total: $.total})")
	case w.JSONPath != "" && w.RawCounts != nil:
		f.Errorf(path+".counts", "keep jsonPath for a number, or counts for a rate judged with confidence", "give jsonPath or counts, not both")
	case w.RawCounts != nil:
		w.RawCounts.check(f, path+".counts", "$.total", jsonPath)
	default:
		jsonPath(path+".jsonPath", w.JSONPath)
	}
	f.HeadersFromEnv(path+".headersFromEnv", w.HeadersFromEnv)
}

// Judges is false: the picked number needs a condition or compare.
func (*WebProvider) Judges() bool { return false }

// Counts is true with counts: each answer's counts are raw counts that add
// up over the looks; a picked number is none.
func (w *WebProvider) Counts() bool { return w.RawCounts != nil }

// SampleSizes is true with counts (each answer's total); a picked number
// carries none.
func (w *WebProvider) SampleSizes() bool { return w.RawCounts != nil }
