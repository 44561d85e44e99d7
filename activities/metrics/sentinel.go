package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
)

// KindSentinel is the sentinel provider's kind: the key of its block under a
// metric's provider.
const KindSentinel = "sentinel"

// SentinelProvider sends known-answer prompts straight to a version and
// checks each answer. Any failed sentinel fails the metric.
type SentinelProvider struct {
	// File is a YAML file of prompts, relative to the plan.
	File string `json:"file,omitempty"`
	// Prompts are inline prompts; File and Prompts may be combined.
	Prompts []SentinelPrompt `json:"prompts,omitempty"`
	// Model is sent as the request's model field.
	Model string `json:"model,omitempty"`
	// Stable also checks the stable version, to tell a broken sentinel from
	// a broken canary.
	Stable bool `json:"stable,omitempty"`
	// Timeout of one prompt; defaults to 30s.
	Timeout plans.Duration `json:"timeout,omitempty"`
}

// SentinelPrompt is one known-answer prompt and what its answer must satisfy.
type SentinelPrompt struct {
	// Name of the sentinel, shown when it fails.
	Name string `json:"name"`
	// Prompt is the user message.
	Prompt string `json:"prompt"`
	// System is an optional system message.
	System string `json:"system,omitempty"`
	// Expect says what the answer must satisfy; every set field must hold.
	Expect Expectation `json:"expect"`
}

// Expectation is a check on a sentinel's answer.
type Expectation struct {
	// Contains is a substring the answer must contain.
	Contains string `json:"contains,omitempty"`
	// Regex is a regular expression (RE2) the answer must match.
	Regex string `json:"regex,omitempty"`
	// Equals is the exact answer, after trimming spaces.
	Equals string `json:"equals,omitempty"`
	// JSONSchema is a JSON Schema (as YAML or JSON text) the answer must satisfy.
	JSONSchema string `json:"jsonSchema,omitempty"`
}

// Check checks the sentinel provider's block: a file that can be read or
// inline prompts, each with a name, a prompt and an expectation that
// compiles.
func (s *SentinelProvider) Check(f plans.Fields, path string) {
	if s.File == "" && len(s.Prompts) == 0 {
		f.Errorf(path, "add file: sentinels.yaml or prompts: [...]", "a sentinel suite needs file or prompts")
	}
	if s.File != "" && f.Dir() != "" {
		file := s.File
		if !filepath.IsAbs(file) {
			file = filepath.Join(f.Dir(), file)
		}
		if _, err := os.Stat(file); err != nil {
			f.Errorf(path+".file", "give the path relative to the plan file", "sentinel file %s cannot be read: %v", s.File, errors.Unwrap(err))
		}
	}
	for i, pr := range s.Prompts {
		pp := fmt.Sprintf("%s.prompts[%d]", path, i)
		f.Need(pp, "name", pr.Name, "name: capital-of-france")
		f.Need(pp, "prompt", pr.Prompt, `prompt: "What is the capital of France? One word."`)
		e := pr.Expect
		if e.Contains == "" && e.Regex == "" && e.Equals == "" && e.JSONSchema == "" {
			f.Errorf(pp+".expect", "add contains, regex, equals or jsonSchema", "sentinel %s expects nothing", pr.Name)
		}
		if e.Regex != "" {
			if _, err := regexp.Compile(e.Regex); err != nil {
				f.Errorf(pp+".expect.regex", "write an RE2 regular expression", "bad regular expression: %v", err)
			}
		}
		if e.JSONSchema != "" {
			var v any
			if err := yaml.Unmarshal([]byte(e.JSONSchema), &v); err != nil {
				f.Errorf(pp+".expect.jsonSchema", "write the schema as JSON or YAML", "the JSON schema does not parse: %v", err)
			} else if _, ok := v.(map[string]any); !ok {
				f.Errorf(pp+".expect.jsonSchema", `write an object, e.g. {"type": "object"}`, "a JSON schema must be an object")
			} else if _, err := json.Marshal(v); err != nil {
				f.Errorf(pp+".expect.jsonSchema", "write the schema as JSON", "the JSON schema is not JSON-compatible: %v", err)
			}
		}
	}
}

// Judges is true: a failed sentinel fails the metric.
func (*SentinelProvider) Judges() bool { return true }

// Counts is false: sentinels give pass or fail, no raw counts.
func (*SentinelProvider) Counts() bool { return false }

// SampleSizes is true: each measurement counts the prompts sent.
func (*SentinelProvider) SampleSizes() bool { return true }

// Kind is sentinel.
func (*SentinelProvider) Kind() string { return KindSentinel }

// JudgedWithConfidence is false: sentinels take no compare limits.
func (*SentinelProvider) JudgedWithConfidence(string) bool { return false }

// ApplyDefaults sets the timeout of one prompt.
func (s *SentinelProvider) ApplyDefaults(*plans.Spec) {
	defaultDuration(&s.Timeout, plans.DefaultProviderTimeout)
}

// Sentinel sends a suite of known-answer prompts straight to the canary
// (and, when asked, to stable) and checks each answer: contains, regex,
// equals (after trimming spaces) and JSON Schema; every expectation set must
// hold. Any sentinel that fails on the canary fails the metric at once (the
// measurement is Final). One that fails on stable too is reported as a
// broken sentinel and makes the look Inconclusive instead.
//
// The prompts go to the version's own URL (Query.Canary.URL, or the
// backend URL the gateway route holds for that role): the gateway's traffic
// listener splits by weight and has no way to pin a request to a version.
//
// File is read on the worker: an absolute path, or a path relative to the
// worker's working directory (the plan loader checks it relative to the
// plan). The file is YAML: a list of prompts, or a map with a prompts list.
type Sentinel struct {
	d deps
}

// NewSentinel returns the sentinel provider.
func NewSentinel(opts Options) *Sentinel {
	return &Sentinel{d: opts.deps()}
}

// checkedPrompt is a sentinel prompt with its expectations compiled.
type checkedPrompt struct {
	SentinelPrompt
	re     *regexp.Regexp
	schema *jsonschema.Schema
}

// Measure implements Provider. The result is the canary's share of
// sentinels passed; stable's share is recorded when stable is checked.
func (s *Sentinel) Measure(ctx context.Context, q api.Query) (api.Result, error) {
	m := q.Metric
	cfg, _ := m.Provider.Block.(*SentinelProvider)
	if cfg == nil {
		return api.Result{}, fmt.Errorf("metric %s: no sentinel provider block: %w", m.Name, api.ErrInvalidConfig)
	}
	if m.Sequential != nil {
		return api.Result{}, fmt.Errorf("metric %s: sentinels fail at once and take no sequential test: %w", m.Name, api.ErrInvalidConfig)
	}
	prompts, err := loadSentinels(cfg)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	if len(prompts) == 0 {
		return api.Result{}, fmt.Errorf("metric %s: the sentinel suite is empty: %w", m.Name, api.ErrInvalidConfig)
	}
	canaryFailed, err := s.runSuite(ctx, q, cfg, prompts, q.Canary, admin.RoleCanary)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	v := values{CanaryN: int64(len(prompts))}
	v.Canary = []float64{passRate(len(prompts), len(canaryFailed))}
	v.Result = v.Canary
	var stableFailed map[string]string
	if cfg.Stable {
		if stableFailed, err = s.runSuite(ctx, q, cfg, prompts, q.Stable, admin.RoleStable); err != nil {
			return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
		}
		v.Stable, v.StableN = []float64{passRate(len(prompts), len(stableFailed))}, int64(len(prompts))
	}
	meas, err := judgeValues(m, v, sentinelVerdict(prompts, canaryFailed, stableFailed))
	if err != nil {
		return api.Result{}, err
	}
	meas.At = s.d.now()
	return api.Result{Measurement: meas}, nil
}

func passRate(n, failed int) float64 {
	return float64(n-failed) / float64(n)
}

// sentinelVerdict judges the suite: a sentinel failed on the canary alone
// fails the metric; one failed on both versions is a broken sentinel.
func sentinelVerdict(prompts []checkedPrompt, canaryFailed, stableFailed map[string]string) analysis.Measurement {
	var failed, broken []string
	for _, p := range prompts {
		why, bad := canaryFailed[p.Name]
		if !bad {
			continue
		}
		if _, alsoStable := stableFailed[p.Name]; alsoStable {
			broken = append(broken, p.Name)
			continue
		}
		failed = append(failed, fmt.Sprintf("%s (%s)", p.Name, why))
	}
	n := len(prompts)
	switch {
	case len(failed) > 0:
		return analysis.Measurement{Verdict: analysis.Fail, Final: true,
			Reason: fmt.Sprintf("%d of %d sentinels failed on the canary: %s", len(failed), n, strings.Join(failed, "; "))}
	case len(broken) > 0:
		return analysis.Measurement{Verdict: analysis.Inconclusive,
			Reason: fmt.Sprintf("sentinels %s fail on stable too: the sentinels may be broken", strings.Join(broken, ", "))}
	}
	return analysis.Measurement{Verdict: analysis.Pass, Reason: fmt.Sprintf("all %d sentinels passed on the canary", n)}
}

// runSuite sends every prompt to one version and returns the failed
// sentinels with the reason of each. An answer with an HTTP error status is
// a failed sentinel; a version that cannot be reached is an error.
func (s *Sentinel) runSuite(ctx context.Context, q api.Query, cfg *SentinelProvider, prompts []checkedPrompt, v api.Version, role string) (map[string]string, error) {
	endpoint, header, err := versionChat(ctx, s.d, q, v, role)
	if err != nil {
		return nil, err
	}
	failed := map[string]string{}
	zero := 0.0
	for _, p := range prompts {
		req := chatRequest{Model: cfg.Model, Temperature: &zero}
		if p.System != "" {
			req.Messages = append(req.Messages, chatMessage{Role: "system", Content: p.System})
		}
		req.Messages = append(req.Messages, chatMessage{Role: "user", Content: p.Prompt})
		cctx, cancel := context.WithTimeout(ctx, timeoutOr(cfg.Timeout, plans.DefaultProviderTimeout))
		ans, err := chat(cctx, s.d.hc, endpoint, header, req)
		cancel()
		switch {
		case errors.Is(err, ErrBadAnswer):
			failed[p.Name] = err.Error()
			continue
		case err != nil:
			return nil, fmt.Errorf("sentinel %s on %s version %s: %w", p.Name, role, v.Name, err)
		}
		if why := p.check(ans.Content); why != "" {
			failed[p.Name] = why
		}
		s.d.log.DebugContext(ctx, "sentinel answered", "sentinel", p.Name, "role", role, "version", v.Name, "failed", failed[p.Name] != "")
	}
	return failed, nil
}

// check returns why answer breaks the expectations, or "" when it meets them all.
func (p checkedPrompt) check(answer string) string {
	e := p.Expect
	if e.Contains != "" && !strings.Contains(answer, e.Contains) {
		return fmt.Sprintf("answer %q does not contain %q", clip(answer), e.Contains)
	}
	if p.re != nil && !p.re.MatchString(answer) {
		return fmt.Sprintf("answer %q does not match /%s/", clip(answer), e.Regex)
	}
	if e.Equals != "" && strings.TrimSpace(answer) != strings.TrimSpace(e.Equals) {
		return fmt.Sprintf("answer %q is not %q", clip(answer), e.Equals)
	}
	if p.schema != nil {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(stripFence(answer)))
		if err != nil {
			return fmt.Sprintf("answer %q is not JSON", clip(answer))
		}
		if err := p.schema.Validate(inst); err != nil {
			return fmt.Sprintf("answer %q does not match the JSON schema: %s", clip(answer), oneLine(err.Error()))
		}
	}
	return ""
}

// stripFence removes a Markdown code fence around a JSON answer.
func stripFence(s string) string {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "```") || !strings.HasSuffix(t, "```") || len(t) < 6 {
		return t
	}
	t = strings.TrimSuffix(t[3:], "```")
	if i := strings.IndexByte(t, '\n'); i >= 0 && !strings.ContainsAny(t[:i], "{[") {
		t = t[i+1:]
	}
	return strings.TrimSpace(t)
}

func clip(s string) string {
	const max = 120
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// loadSentinels returns the suite: the file's prompts, then the inline
// ones, each with its expectations compiled.
func loadSentinels(cfg *SentinelProvider) ([]checkedPrompt, error) {
	var all []SentinelPrompt
	if cfg.File != "" {
		fromFile, err := readSentinelFile(cfg.File)
		if err != nil {
			return nil, err
		}
		all = append(all, fromFile...)
	}
	all = append(all, cfg.Prompts...)
	out := make([]checkedPrompt, 0, len(all))
	seen := map[string]bool{}
	for i, p := range all {
		if p.Name == "" {
			p.Name = fmt.Sprintf("sentinel-%d", i+1)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("sentinel %s is defined twice: %w", p.Name, api.ErrInvalidConfig)
		}
		seen[p.Name] = true
		cp, err := compileSentinel(p)
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	return out, nil
}

func compileSentinel(p SentinelPrompt) (checkedPrompt, error) {
	cp := checkedPrompt{SentinelPrompt: p}
	e := p.Expect
	if e.Contains == "" && e.Regex == "" && e.Equals == "" && e.JSONSchema == "" {
		return cp, fmt.Errorf("sentinel %s expects nothing: %w", p.Name, api.ErrInvalidConfig)
	}
	if e.Regex != "" {
		re, err := regexp.Compile(e.Regex)
		if err != nil {
			return cp, fmt.Errorf("sentinel %s: compile regex: %w: %w", p.Name, err, api.ErrInvalidConfig)
		}
		cp.re = re
	}
	if e.JSONSchema != "" {
		sch, err := compileSchema(p.Name, e.JSONSchema)
		if err != nil {
			return cp, err
		}
		cp.schema = sch
	}
	return cp, nil
}

// compileSchema compiles a JSON Schema written as JSON or YAML.
func compileSchema(name, text string) (*jsonschema.Schema, error) {
	var y any
	if err := yaml.Unmarshal([]byte(text), &y); err != nil {
		return nil, fmt.Errorf("sentinel %s: parse JSON schema: %w: %w", name, err, api.ErrInvalidConfig)
	}
	b, err := json.Marshal(y)
	if err != nil {
		return nil, fmt.Errorf("sentinel %s: JSON schema is not JSON data: %w: %w", name, err, api.ErrInvalidConfig)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("sentinel %s: read JSON schema: %w: %w", name, err, api.ErrInvalidConfig)
	}
	c := jsonschema.NewCompiler()
	const loc = "sentinel.schema.json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("sentinel %s: add JSON schema: %w: %w", name, err, api.ErrInvalidConfig)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("sentinel %s: compile JSON schema: %w: %w", name, err, api.ErrInvalidConfig)
	}
	return sch, nil
}

// readSentinelFile reads a YAML suite: a list of prompts, or a map whose
// prompts key holds the list. Field names are those of the plan.
func readSentinelFile(path string) ([]SentinelPrompt, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sentinel file: %w: %w", err, api.ErrInvalidConfig)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse sentinel file %s: %w: %w", path, err, api.ErrInvalidConfig)
	}
	if m, ok := doc.(map[string]any); ok {
		doc = m["prompts"]
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("parse sentinel file %s: %w: %w", path, err, api.ErrInvalidConfig)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var out []SentinelPrompt
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("parse sentinel file %s: want a list of prompts with name, prompt, system and expect: %w: %w", path, err, api.ErrInvalidConfig)
	}
	return out, nil
}
