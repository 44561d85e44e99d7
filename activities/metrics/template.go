package metrics

import (
	"fmt"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/plans"
)

// dataFor returns the placeholder values of q with {{.Version}} set to
// version (empty when the text is not run per version).
func dataFor(q api.Query, version string) plans.TemplateData {
	return plans.TemplateData{
		App:     q.App,
		Version: version,
		Canary:  plans.VersionData{Version: q.Canary.Name, URL: q.Canary.URL},
		Stable:  plans.VersionData{Version: q.Stable.Name, URL: q.Stable.URL},
		Args:    q.Args,
	}
}

// render fills the placeholders of text. A placeholder without a value
// (an unknown field or a missing argument) is an error wrapping
// ErrInvalidConfig: the same plan would fail the same way on retry.
func render(what, text string, data plans.TemplateData) (string, error) {
	out, err := plans.ExecuteTemplate(what, text, data)
	if err != nil {
		return "", fmt.Errorf("%w: %w", err, api.ErrInvalidConfig)
	}
	return out, nil
}
