package plans

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/invopop/jsonschema"
)

// Duration is a length of time written as Go and Argo Rollouts write it:
// 30s, 5m, 1h30m, 1d (24h) or a bare number of seconds.
type Duration struct {
	time.Duration
}

// Seconds returns a Duration of n seconds, for literals in tests and defaults.
func Seconds(n int) Duration { return Duration{time.Duration(n) * time.Second} }

// durationPattern is what the JSON Schema accepts; ParseDuration is the truth.
const durationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d))+$|^[0-9]+$`

// ParseDuration reads a duration in Go form, with d for days, or a bare
// number of seconds.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Duration{}, fmt.Errorf("empty duration")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return Duration{}, fmt.Errorf("duration %q is negative", s)
		}
		return Duration{time.Duration(n) * time.Second}, nil
	}
	total := time.Duration(0)
	rest := s
	// Days are not in Go's syntax: take a leading "<n>d" apart.
	if i := strings.IndexByte(rest, 'd'); i > 0 {
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err == nil {
			total = time.Duration(n) * 24 * time.Hour
			rest = rest[i+1:]
		}
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return Duration{}, fmt.Errorf("%q is not a duration", s)
		}
		total += d
	}
	if total < 0 {
		return Duration{}, fmt.Errorf("duration %q is negative", s)
	}
	return Duration{total}, nil
}

// String writes the duration in its shortest Go form: 5m rather than 5m0s.
func (d Duration) String() string {
	if d.Duration == 0 {
		return "0s"
	}
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalJSON writes the duration as a string such as "5m".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("a duration must be a string such as \"5m\": %w", err)
		}
		s = strconv.FormatInt(n, 10)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration as a string such as "5m".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// JSONSchema describes durations for editors.
func (Duration) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		OneOf: []*jsonschema.Schema{
			{Type: "string", Pattern: durationPattern},
			{Type: "integer", Minimum: json.Number("0"), Description: "seconds"},
		},
		Description: "a duration such as 30s, 5m, 1h30m or 1d, or a number of seconds",
		Examples:    []any{"30s", "5m", "1h30m"},
	}
}
