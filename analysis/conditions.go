package analysis

import (
	"fmt"
	"math"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// Variables a condition may use. Each is a number when the metric has one
// value and a list when it has several; `result[0]` works in both cases, so
// conditions written for Argo Rollouts' Prometheus provider keep working.
const (
	VarResult = "result"
	VarStable = "stable"
	VarCanary = "canary"
)

// maxConditionLen bounds the source of a condition; plans hold short rules.
const maxConditionLen = 4096

// elemFunc is the function that indexing a variable is rewritten into.
const elemFunc = "elem"

// Condition is a compiled successCondition or failureCondition. It is safe
// for concurrent use.
type Condition struct {
	src     string
	program *vm.Program
	uses    []string // variables the condition reads, in VarResult, VarStable, VarCanary order
}

// condEnv is what a condition sees; the fields are typed `any` so that a
// variable may be a number or a list.
type condEnv struct {
	Result any `expr:"result"`
	Stable any `expr:"stable"`
	Canary any `expr:"canary"`
}

// Inputs are the values a condition sees. A nil or empty slice means the
// value is missing; a slice of one is presented as a number.
type Inputs struct {
	Result Values `json:"result,omitempty"`
	Stable Values `json:"stable,omitempty"`
	Canary Values `json:"canary,omitempty"`
}

// CompileCondition parses and type-checks a condition such as
// `result >= 0.95`, `result[0] < 0.01` or `canary <= stable * 1.1`. Plans
// call it at load so that a typo is a load error, not a failed rollout.
func CompileCondition(src string) (c *Condition, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("compile condition %q: internal error: %v", src, r)
		}
	}()
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("compile condition: empty")
	}
	if len(src) > maxConditionLen {
		return nil, fmt.Errorf("compile condition: %d characters, more than the %d allowed", len(src), maxConditionLen)
	}
	idx := &indexRewriter{}
	prog, err := expr.Compile(src,
		expr.Env(condEnv{}),
		expr.Function(elemFunc, elem),
		expr.Function("isNaN", isNaN),
		expr.Function("isInf", isInf),
		expr.Patch(idx),
		expr.MaxNodes(1000),
	)
	if err != nil {
		return nil, fmt.Errorf("compile condition %q: %w", src, err)
	}
	if prog.Node() != nil {
		if t := prog.Node().Type(); t != nil && t.Kind().String() != "bool" && t.Kind().String() != "interface" {
			return nil, fmt.Errorf("compile condition %q: gives %s, want true or false", src, t)
		}
	}
	return &Condition{src: src, program: prog, uses: usedVars(prog.Node())}, nil
}

// Source returns the condition as written.
func (c *Condition) Source() string { return c.src }

// Uses returns the variables the condition reads.
func (c *Condition) Uses() []string { return append([]string(nil), c.uses...) }

// Eval runs the condition on in. A missing variable the condition reads, or a
// result that is not true or false, is an error.
func (c *Condition) Eval(in Inputs) (ok bool, err error) {
	if c == nil || c.program == nil {
		return false, fmt.Errorf("evaluate condition: not compiled")
	}
	if v, missing := c.missing(in); missing {
		return false, fmt.Errorf("evaluate condition %q: no value for %s", c.src, v)
	}
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("evaluate condition %q: internal error: %v", c.src, r)
		}
	}()
	out, err := expr.Run(c.program, condEnv{
		Result: envValue(in.Result),
		Stable: envValue(in.Stable),
		Canary: envValue(in.Canary),
	})
	if err != nil {
		return false, fmt.Errorf("evaluate condition %q: %w", c.src, err)
	}
	b, isBool := out.(bool)
	if !isBool {
		return false, fmt.Errorf("evaluate condition %q: gave %v (%T), want true or false", c.src, out, out)
	}
	return b, nil
}

// missing returns the first variable the condition reads that has no value
// (nil, empty or NaN).
func (c *Condition) missing(in Inputs) (string, bool) {
	for _, v := range c.uses {
		var vals []float64
		switch v {
		case VarResult:
			vals = in.Result
		case VarStable:
			vals = in.Stable
		case VarCanary:
			vals = in.Canary
		}
		if !present(vals) {
			return v, true
		}
	}
	return "", false
}

// present reports whether vals holds at least one value and no NaN.
func present(vals []float64) bool {
	if len(vals) == 0 {
		return false
	}
	for _, x := range vals {
		if math.IsNaN(x) {
			return false
		}
	}
	return true
}

// EvaluateConditions judges one look as Argo Rollouts does: a true failure
// condition fails; with only a success condition, false fails; with only a
// failure condition, false passes; with both and neither true the look is
// Inconclusive; with neither, a look with data passes. Missing data is
// Inconclusive, never a Pass, and an evaluation error is Error. The returned
// measurement carries the inputs; the caller sets At.
func EvaluateConditions(success, failure *Condition, in Inputs) Measurement {
	m := Measurement{Result: in.Result, Stable: in.Stable, Canary: in.Canary}
	shown := describeInputs(in)
	for _, c := range []*Condition{failure, success} {
		if c == nil {
			continue
		}
		if v, missing := c.missing(in); missing {
			m.Verdict, m.NoData, m.Reason = Inconclusive, true, fmt.Sprintf("no data: %s has no value for condition `%s`", v, c.src)
			return m
		}
	}
	if success == nil && failure == nil {
		if !present(in.Result) && !present(in.Canary) {
			m.Verdict, m.NoData, m.Reason = Inconclusive, true, "no data: the metric returned no value"
			return m
		}
		m.Verdict, m.Reason = Pass, shown+"; no condition to check"
		return m
	}
	if failure != nil {
		bad, err := failure.Eval(in)
		if err != nil {
			m.Verdict, m.Reason = Error, err.Error()
			return m
		}
		if bad {
			m.Verdict, m.Reason = Fail, fmt.Sprintf("%s met the failure condition `%s`", shown, failure.src)
			return m
		}
		if success == nil {
			m.Verdict, m.Reason = Pass, fmt.Sprintf("%s did not meet the failure condition `%s`", shown, failure.src)
			return m
		}
	}
	good, err := success.Eval(in)
	if err != nil {
		m.Verdict, m.Reason = Error, err.Error()
		return m
	}
	switch {
	case good:
		m.Verdict, m.Reason = Pass, fmt.Sprintf("%s met the success condition `%s`", shown, success.src)
	case failure != nil:
		m.Verdict, m.Reason = Inconclusive, fmt.Sprintf("%s met neither the success condition `%s` nor the failure condition `%s`", shown, success.src, failure.src)
	default:
		m.Verdict, m.Reason = Fail, fmt.Sprintf("%s did not meet the success condition `%s`", shown, success.src)
	}
	return m
}

// describeInputs renders the values for a reason: "result 0.93, stable 0.95".
func describeInputs(in Inputs) string {
	var parts []string
	for _, p := range []struct {
		name string
		vals []float64
	}{{VarResult, in.Result}, {VarStable, in.Stable}, {VarCanary, in.Canary}} {
		if len(p.vals) == 0 {
			continue
		}
		parts = append(parts, p.name+" "+fmtList(p.vals))
	}
	if len(parts) == 0 {
		return "no values"
	}
	return strings.Join(parts, ", ")
}

func fmtList(vals []float64) string {
	if len(vals) == 1 {
		return fmtNum(vals[0])
	}
	const show = 5
	s := make([]string, 0, show+1)
	for i, v := range vals {
		if i == show {
			s = append(s, fmt.Sprintf("… %d more", len(vals)-show))
			break
		}
		s = append(s, fmtNum(v))
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// envValue presents a value to expr: missing as nil, one value as a number,
// several as a list.
func envValue(vals []float64) any {
	switch len(vals) {
	case 0:
		return nil
	case 1:
		return vals[0]
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v
	}
	return out
}

// indexRewriter turns `result[i]` (and the same on stable and canary) into
// elem(result, i), which also accepts a number for index 0.
type indexRewriter struct{}

// Visit implements ast.Visitor.
func (indexRewriter) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || m.Method {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || !isVar(id.Value) {
		return
	}
	if _, isName := m.Property.(*ast.StringNode); isName {
		return
	}
	ast.Patch(node, &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: elemFunc},
		Arguments: []ast.Node{&ast.IdentifierNode{Value: id.Value}, m.Property},
	})
}

func isVar(name string) bool {
	return name == VarResult || name == VarStable || name == VarCanary
}

// usedVars lists the variables a compiled condition reads.
func usedVars(root ast.Node) []string {
	if root == nil {
		return nil
	}
	seen := map[string]bool{}
	ast.Walk(&root, varCollector(seen))
	var out []string
	for _, v := range []string{VarResult, VarStable, VarCanary} {
		if seen[v] {
			out = append(out, v)
		}
	}
	return out
}

type varCollector map[string]bool

// Visit implements ast.Visitor.
func (vc varCollector) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok && isVar(id.Value) {
		vc[id.Value] = true
	}
}

// elem returns list[i], or the number itself for i = 0 (or -1), so that
// `result[0]` works whether the provider returned one value or several.
func elem(params ...any) (any, error) {
	if len(params) != 2 {
		return nil, fmt.Errorf("elem: want 2 arguments, got %d", len(params))
	}
	i, err := toInt(params[1])
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	switch v := params[0].(type) {
	case nil:
		return nil, fmt.Errorf("index %d of a missing value", i)
	case []any:
		j := i
		if j < 0 {
			j += len(v)
		}
		if j < 0 || j >= len(v) {
			return nil, fmt.Errorf("index %d out of range for %d values", i, len(v))
		}
		return v[j], nil
	case float64:
		if i != 0 && i != -1 {
			return nil, fmt.Errorf("index %d out of range for 1 value", i)
		}
		return v, nil
	}
	return nil, fmt.Errorf("cannot index %T", params[0])
}

func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<31 {
			return 0, fmt.Errorf("%v is not a whole number", x)
		}
		return int(x), nil
	}
	return 0, fmt.Errorf("%v (%T) is not a number", v, v)
}

func isNaN(params ...any) (any, error) {
	x, err := oneFloat("isNaN", params)
	if err != nil {
		return nil, err
	}
	return math.IsNaN(x), nil
}

func isInf(params ...any) (any, error) {
	x, err := oneFloat("isInf", params)
	if err != nil {
		return nil, err
	}
	return math.IsInf(x, 0), nil
}

func oneFloat(name string, params []any) (float64, error) {
	if len(params) != 1 {
		return 0, fmt.Errorf("%s: want 1 argument, got %d", name, len(params))
	}
	switch x := params[0].(type) {
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	}
	return 0, fmt.Errorf("%s: %v (%T) is not a number", name, params[0], params[0])
}
