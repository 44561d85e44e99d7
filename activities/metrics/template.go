package metrics

import (
	"fmt"
	"strings"
	"text/template"
)

// templateData is what placeholders in queries, URLs, bodies and prompts
// see: {{.App}}, {{.Version}}, {{.Canary.Version}}, {{.Canary.URL}},
// {{.Stable.Version}}, {{.Stable.URL}} and {{.Args.name}}.
type templateData struct {
	App     string
	Version string
	Canary  versionData
	Stable  versionData
	Args    map[string]string
}

type versionData struct {
	Version string
	URL     string
}

// dataFor returns the placeholder values of q with {{.Version}} set to
// version (empty when the text is not run per version).
func dataFor(q Query, version string) templateData {
	args := q.Args
	if args == nil {
		args = map[string]string{}
	}
	return templateData{
		App:     q.App,
		Version: version,
		Canary:  versionData{Version: q.Canary.Name, URL: q.Canary.URL},
		Stable:  versionData{Version: q.Stable.Name, URL: q.Stable.URL},
		Args:    args,
	}
}

// render fills the placeholders of text. A placeholder without a value
// (an unknown field or a missing argument) is an error wrapping
// ErrInvalidConfig: the same plan would fail the same way on retry.
func render(what, text string, data templateData) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := template.New(what).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("parse %s template: %w: %w", what, err, ErrInvalidConfig)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("fill %s template: %w: %w", what, err, ErrInvalidConfig)
	}
	return b.String(), nil
}
