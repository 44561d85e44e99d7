package plans

// Check checks the judge provider's block: the API's URL, the model, the
// name of the key's environment variable and the prompt's placeholders.
func (j *JudgeProvider) Check(f Fields, path string) {
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
