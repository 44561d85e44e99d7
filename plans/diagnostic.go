package plans

import (
	"fmt"
	"sort"
	"strings"
)

// Severity says whether a diagnostic stops a plan from loading.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is one problem found in a plan, placed like a compiler places
// it: file, line and column, and the field path inside the document.
type Diagnostic struct {
	// File is the plan's file name as given to the loader.
	File string `json:"file"`
	// Line and Column are 1-based; 0 when the problem has no place (a
	// missing document, say).
	Line   int `json:"line"`
	Column int `json:"column"`
	// Path is the field path, e.g. spec.steps[3].pause.duration.
	Path string `json:"path,omitempty"`
	// Severity is error or warning.
	Severity Severity `json:"severity"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Hint says how to fix it, with an example where one helps.
	Hint string `json:"hint,omitempty"`
}

// String formats the diagnostic as file:line:col: path: message (hint).
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.File)
	if d.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", d.Line, d.Column)
	}
	b.WriteString(": ")
	if d.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if d.Hint != "" {
		b.WriteString("; ")
		b.WriteString(d.Hint)
	}
	return b.String()
}

// ErrorList is every error found in one or more plans. It is the error
// returned by Load when a plan is invalid.
type ErrorList []Diagnostic

// Error lists the errors one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, d := range l {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// sortDiagnostics orders diagnostics by file position, then path, so output
// reads top to bottom like the file.
func sortDiagnostics(ds []Diagnostic) {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Path < b.Path
	})
}
