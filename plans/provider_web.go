package plans

import "strings"

// Check checks the web provider's block: the URL and body with their
// placeholders, the method, the JSON path and the names of secrets.
func (w *WebProvider) Check(f Fields, path string) {
	f.URL(path+".url", "url", w.URL, "url: http://evals/api/run?suite=voice")
	f.Template(path+".url", w.URL)
	f.Template(path+".body", w.Body)
	if w.Method != "" {
		f.OneOf(path+".method", "method", w.Method, []string{"GET", "POST"})
	}
	if w.JSONPath == "" {
		f.Required(path, "jsonPath", "jsonPath: $.passRate")
	} else if !strings.HasPrefix(w.JSONPath, "$") {
		f.Errorf(path+".jsonPath", "start it at the root, e.g. $.passRate", "JSON path %q does not start with $", w.JSONPath)
	}
	f.HeadersFromEnv(path+".headersFromEnv", w.HeadersFromEnv)
}

// Judges is false: the picked number needs a condition or compare.
func (*WebProvider) Judges() bool { return false }

// Counts is false: an endpoint's number is no raw count.
func (*WebProvider) Counts() bool { return false }

// SampleSizes is false: an endpoint's number carries no sample size.
func (*WebProvider) SampleSizes() bool { return false }
