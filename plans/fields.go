package plans

// Fields is what a Block reports its problems through: diagnostics placed
// by field path, with the checks that blocks share.
type Fields struct {
	c    *checker
	spec *Spec
	args map[string]string
}

// Required reports a missing field of the block at path.
func (f Fields) Required(path, field, example string) { f.c.required(path, field, example) }

// Need reports field of the block at path when value is empty.
func (f Fields) Need(path, field, value, example string) { f.c.need(path, field, value, example) }

// URL checks an http(s) URL field; an empty one is missing.
func (f Fields) URL(path, field, value, example string) { f.c.url(path, field, value, example) }

// EnvName checks a field that names an environment variable.
func (f Fields) EnvName(path, value string) { f.c.envName(path, value) }

// HeadersFromEnv checks a map of header names to environment variable names.
func (f Fields) HeadersFromEnv(path string, h map[string]string) { f.c.headersFromEnv(path, h) }

// Template checks a field with placeholders against the plan's args.
func (f Fields) Template(path, src string) { f.c.template(path, src, f.args) }

// OneOf reports value when it is not among allowed.
func (f Fields) OneOf(path, what, value string, allowed []string) bool {
	return f.c.oneOf(path, what, value, allowed)
}

// Errorf reports a problem at path with a hint on how to fix it.
func (f Fields) Errorf(path, hint, format string, args ...any) {
	f.c.errorf(path, hint, format, args...)
}

// Spec is the plan's spec, for checks that depend on other blocks.
func (f Fields) Spec() *Spec { return f.spec }

// Unusable reports whether the value at path could not be decoded (and
// was reported already).
func (f Fields) Unusable(path string) bool { return f.c.bad[path] }

// Dir is the plan's folder, for files the plan names; "" when the plan
// was loaded from memory.
func (f Fields) Dir() string { return f.c.dir }
