package plans

import (
	"fmt"
	"strings"
	"text/template"
)

// TemplateData is what placeholders in queries, URLs, bodies and judge
// prompts see: {{.App}}, {{.Version}} (the version being measured, for
// text run once per version), {{.Canary.Version}}, {{.Canary.URL}},
// {{.Stable.Version}}, {{.Stable.URL}} and {{.Args.name}}. The loader
// checks every template against it and the providers fill them with it, so
// a placeholder that loads is one that fills.
type TemplateData struct {
	App     string
	Version string
	Canary  VersionData
	Stable  VersionData
	Args    map[string]string
}

// VersionData is one version as templates see it.
type VersionData struct {
	Version string
	URL     string
}

// ExecuteTemplate fills the placeholders of text. An unknown placeholder or
// a missing argument is an error (missingkey=error), never an empty string.
func ExecuteTemplate(name, text string, data TemplateData) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("parse %s template: %w", name, err)
	}
	if data.Args == nil {
		data.Args = map[string]string{}
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("fill %s template: %w", name, err)
	}
	return b.String(), nil
}
