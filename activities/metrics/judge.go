package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/coalmine-dev/coalmine/activities/api"
	"github.com/coalmine-dev/coalmine/analysis"
	"github.com/coalmine-dev/coalmine/gateway/admin"
	"github.com/coalmine-dev/coalmine/plans"
)

// KindJudge is the judge provider's kind: the key of its block under a
// metric's provider.
const KindJudge = "judge"

// JudgeProvider asks an LLM over an OpenAI-compatible chat API whether the
// canary's answers are as good as stable's.
type JudgeProvider struct {
	// URL of the OpenAI-compatible API, e.g. https://api.openai.com/v1.
	URL string `json:"url"`
	// Model of the judge.
	Model string `json:"model"`
	// APIKeyEnv names the environment variable with the API key.
	APIKeyEnv string `json:"apiKeyEnv,omitempty"`
	// Prompt is the judge's instruction; a built-in one is used when empty.
	Prompt string `json:"prompt,omitempty"`
	// Questions are sent to both versions; the judge compares their paired
	// answers. A small built-in set is used when empty.
	Questions []string `json:"questions,omitempty"`
	// Samples is how many paired stable/canary answers to judge per measurement; defaults to 5.
	Samples int `json:"samples,omitempty" jsonschema:"minimum=0"`
	// MaxTokens caps the tokens the judge may spend per analysis; defaults to 20000.
	MaxTokens int `json:"maxTokens,omitempty" jsonschema:"minimum=0"`
	// Timeout of one judge call; defaults to 60s.
	Timeout plans.Duration `json:"timeout,omitempty"`
}

// Check checks the judge provider's block: the API's URL, the model, the
// name of the key's environment variable and the prompt's placeholders.
func (j *JudgeProvider) Check(f plans.Fields, path string) {
	f.URL(path+".url", "url", j.URL, "url: https://api.openai.com/v1")
	f.Need(path, "model", j.Model, "model: gpt-4o-mini")
	f.EnvName(path+".apiKeyEnv", j.APIKeyEnv)
	f.Template(path+".prompt", j.Prompt)
}

// Judges is true: the judge's verdict is the measurement's.
func (*JudgeProvider) Judges() bool { return true }

// Counts is false: a judge's scores are no raw counts.
func (*JudgeProvider) Counts() bool { return false }

// SampleSizes is true: each measurement counts the paired answers judged.
func (*JudgeProvider) SampleSizes() bool { return true }

// Kind is judge.
func (*JudgeProvider) Kind() string { return KindJudge }

// JudgedWithConfidence is false: a judge's scores are judged on point
// estimates.
func (*JudgeProvider) JudgedWithConfidence(string) bool { return false }

// ApplyDefaults sets the timeout of one judge call, the samples per
// measurement and the token budget.
func (j *JudgeProvider) ApplyDefaults(*plans.Spec) {
	defaultDuration(&j.Timeout, plans.DefaultJudgeTimeout)
	if j.Samples == 0 {
		j.Samples = plans.DefaultJudgeSamples
	}
	if j.MaxTokens == 0 {
		j.MaxTokens = plans.DefaultJudgeMaxTokens
	}
}

// defaultJudgePrompts returns the prompts sent to both versions for paired
// samples when Options.JudgePrompts is empty.
func defaultJudgePrompts() []string {
	return []string{
		"What is the capital of France?",
		"Explain in two sentences what a canary release is.",
		"A customer says their invoice is wrong. Write a short, polite first reply.",
		"What is 7 times 8?",
		"List three risks of changing a production system prompt.",
	}
}

// defaultJudgeInstruction is the judge's system message when the plan
// gives none.
const defaultJudgeInstruction = `You compare two versions of an AI assistant. For each question you see the answer of the current version (STABLE) and of a new version (CANARY).
Decide whether the CANARY answers are, overall, at least as good as the STABLE answers: correct, helpful, safe and following the instructions.
Reply with exactly one line: the word PASS or FAIL, then one sentence saying why.`

// Judge asks an LLM over an OpenAI-compatible chat API whether the canary
// answers as well as stable. Each look sends Samples prompts to both
// versions (the version URLs, as the sentinel provider does), shows the
// judge the paired answers and reads a verdict: an answer starting with PASS
// is a Pass, FAIL a Fail, anything else Inconclusive. The judge's one-sentence
// reason is kept in the measurement's reason. The tokens the judge reports
// are added up in Result.State; once MaxTokens are spent, later looks are
// Inconclusive without calling the judge.
type Judge struct {
	d       deps
	prompts []string
}

// NewJudge returns the judge provider.
func NewJudge(opts Options) *Judge {
	p := opts.JudgePrompts
	if len(p) == 0 {
		p = defaultJudgePrompts()
	}
	return &Judge{d: opts.deps(), prompts: append([]string(nil), p...)}
}

// judgeState is the judge provider's Result.State.
type judgeState struct {
	// TokensUsed are the judge's tokens spent so far in this analysis.
	TokensUsed int `json:"tokensUsed"`
	// Next is the index of the next sample prompt, so looks rotate through them.
	Next int `json:"next"`
}

// judgeReplyTokens caps the judge's answer: one word and one sentence.
const judgeReplyTokens = 200

// Measure implements Provider. The result is 1 for PASS and 0 for FAIL.
func (j *Judge) Measure(ctx context.Context, q api.Query) (api.Result, error) {
	m := q.Metric
	cfg, _ := m.Provider.Block.(*JudgeProvider)
	if cfg == nil {
		return api.Result{}, fmt.Errorf("metric %s: no judge provider block: %w", m.Name, api.ErrInvalidConfig)
	}
	if cfg.URL == "" || cfg.Model == "" {
		return api.Result{}, fmt.Errorf("metric %s: the judge needs url and model: %w", m.Name, api.ErrInvalidConfig)
	}
	if m.Sequential != nil {
		return api.Result{}, fmt.Errorf("metric %s: the judge gives one verdict per look, not counts for a sequential test: %w", m.Name, api.ErrInvalidConfig)
	}
	var st judgeState
	if err := decodeState(KindJudge, q.State, &st); err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	budget := cfg.MaxTokens
	if budget <= 0 {
		budget = plans.DefaultJudgeMaxTokens
	}
	now := j.d.now()
	if st.TokensUsed >= budget {
		meas := analysis.Measurement{Verdict: analysis.Inconclusive, Reason: fmt.Sprintf("the judge's token budget of %d for this analysis is spent (%d used)", budget, st.TokensUsed)}
		meas.At = now
		return api.Result{Measurement: meas, State: q.State}, nil
	}
	endpoint, err := chatCompletionsURL(cfg.URL)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: judge url: %w", m.Name, err)
	}
	h := http.Header{}
	if cfg.APIKeyEnv != "" {
		key, err := secret(j.d.getenv, cfg.APIKeyEnv)
		if err != nil {
			return api.Result{}, fmt.Errorf("metric %s: judge api key: %w", m.Name, err)
		}
		h.Set("Authorization", "Bearer "+key)
	}
	instruction := defaultJudgeInstruction
	if cfg.Prompt != "" {
		if instruction, err = render("judge prompt", cfg.Prompt, dataFor(q, q.Canary.Name)); err != nil {
			return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
		}
	}
	n := cfg.Samples
	if n <= 0 {
		n = plans.DefaultJudgeSamples
	}
	prompts := j.prompts
	if len(cfg.Questions) > 0 {
		prompts = cfg.Questions
	}
	pairs, err := j.samples(ctx, q, prompts, n, st.Next)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	st.Next = (st.Next + n) % len(prompts)

	zero := 0.0
	req := chatRequest{
		Model:       cfg.Model,
		Temperature: &zero,
		MaxTokens:   min(judgeReplyTokens, budget-st.TokensUsed),
		Messages: []chatMessage{
			{Role: "system", Content: instruction},
			{Role: "user", Content: pairs},
		},
	}
	cctx, cancel := context.WithTimeout(ctx, timeoutOr(cfg.Timeout, plans.DefaultJudgeTimeout))
	defer cancel()
	ans, err := chat(cctx, j.d.hc, endpoint, h, req)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: ask judge %s: %w", m.Name, cfg.Model, err)
	}
	used := ans.Usage.TotalTokens
	if used <= 0 {
		used = (len(instruction) + len(pairs) + len(ans.Content)) / 4 // a rough count when the server reports none
	}
	st.TokensUsed += used

	verdict, reason := parseJudgeAnswer(ans.Content)
	look := analysis.Measurement{Verdict: verdict}
	var v values
	switch verdict {
	case analysis.Pass:
		look.Reason = "judge " + cfg.Model + ": PASS: " + reason
		v.Result = []float64{1}
	case analysis.Fail:
		look.Reason = "judge " + cfg.Model + ": FAIL: " + reason
		v.Result = []float64{0}
	default:
		look.Reason = fmt.Sprintf("judge %s answered neither PASS nor FAIL: %q", cfg.Model, clip(ans.Content))
	}
	v.StableN, v.CanaryN = int64(n), int64(n)
	meas, err := judgeValues(m, v, look)
	if err != nil {
		return api.Result{}, err
	}
	meas.At = now
	state, err := encodeState(KindJudge, st)
	if err != nil {
		return api.Result{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	j.d.log.DebugContext(ctx, "judge answered", "metric", m.Name, "verdict", verdict, "tokens", used, "tokens_used", st.TokensUsed)
	return api.Result{Measurement: meas, State: state}, nil
}

// samples sends n prompts, starting at index from, to both versions and
// renders the paired answers for the judge. An answer with an HTTP error
// status is shown to the judge as that error; a version that cannot be
// reached is an error.
func (j *Judge) samples(ctx context.Context, q api.Query, prompts []string, n, from int) (string, error) {
	var (
		ends    [2]string
		headers [2]http.Header
	)
	for i, r := range []struct {
		v    api.Version
		role string
	}{{q.Stable, admin.RoleStable}, {q.Canary, admin.RoleCanary}} {
		var err error
		if ends[i], headers[i], err = versionChat(ctx, j.d, q, r.v, r.role); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	for k := range n {
		prompt := prompts[(from+k)%len(prompts)]
		fmt.Fprintf(&b, "QUESTION %d: %s\n", k+1, prompt)
		for i, label := range []string{"STABLE", "CANARY"} {
			answer, err := j.answer(ctx, ends[i], headers[i], prompt)
			if err != nil {
				return "", fmt.Errorf("sample %d from %s: %w", k+1, strings.ToLower(label), err)
			}
			fmt.Fprintf(&b, "%s ANSWER %d: %s\n", label, k+1, answer)
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

func (j *Judge) answer(ctx context.Context, endpoint string, header http.Header, prompt string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, plans.DefaultProviderTimeout)
	defer cancel()
	ans, err := chat(ctx, j.d.hc, endpoint, header, chatRequest{Messages: []chatMessage{{Role: "user", Content: prompt}}})
	if errors.Is(err, ErrBadAnswer) {
		return "(the version failed to answer: " + oneLine(err.Error()) + ")", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(ans.Content), nil
}

// parseJudgeAnswer reads PASS or FAIL as the answer's first word (ignoring
// case and Markdown emphasis) and the rest of its first line as the reason.
func parseJudgeAnswer(s string) (analysis.Verdict, string) {
	line := strings.TrimSpace(s)
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	word, rest, _ := strings.Cut(line, " ")
	word = strings.ToUpper(strings.TrimFunc(word, func(r rune) bool { return !unicode.IsLetter(r) }))
	reason := strings.TrimSpace(strings.TrimLeft(rest, ":-–—.,* "))
	if reason == "" {
		reason = "no reason given"
	}
	switch word {
	case "PASS":
		return analysis.Pass, reason
	case "FAIL":
		return analysis.Fail, reason
	}
	return analysis.Inconclusive, ""
}
