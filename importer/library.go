package importer

import (
	"maps"
	"slices"

	"github.com/coalmine-dev/coalmine/plans"
)

// library holds the template documents of an import, so Rollouts and
// Canaries can refer to them by name; each is translated once.
type library struct {
	docs map[libKey]*libEntry
}

// libKey names a template document: its kind and name (and namespace for
// Flagger's MetricTemplate, which Canaries may name across namespaces).
type libKey struct{ kind, namespace, name string }

type libEntry struct {
	doc  document
	used bool
	// argo is the translated AnalysisTemplate; nil until asked for, or when
	// nothing of it translated.
	argo *argoTemplate
	done bool
}

func newLibrary(docs []document) *library {
	l := &library{docs: map[libKey]*libEntry{}}
	for _, d := range docs {
		switch family(d.apiVersion) + "/" + d.kind {
		case "argo/AnalysisTemplate", "argo/ClusterAnalysisTemplate":
			l.docs[libKey{kind: d.kind, name: d.name}] = &libEntry{doc: d}
		case "flagger/MetricTemplate":
			l.docs[libKey{kind: d.kind, namespace: d.root.get("metadata").at("namespace"), name: d.name}] = &libEntry{doc: d}
		}
	}
	return l
}

// analysisTemplate returns the translated Argo template of that name.
func (l *library) analysisTemplate(name string, cluster bool) (*argoTemplate, bool) {
	kind := "AnalysisTemplate"
	if cluster {
		kind = "ClusterAnalysisTemplate"
	}
	e, ok := l.docs[libKey{kind: kind, name: name}]
	if !ok {
		return nil, false
	}
	e.used = true
	if !e.done {
		e.argo, e.done = translateAnalysisTemplate(e.doc), true
	}
	return e.argo, true
}

// metricTemplate returns the MetricTemplate of that name, looked up in
// namespace and then in any namespace.
func (l *library) metricTemplate(namespace, name string) (document, bool) {
	if e, ok := l.docs[libKey{kind: "MetricTemplate", namespace: namespace, name: name}]; ok {
		e.used = true
		return e.doc, true
	}
	for _, k := range slices.SortedFunc(maps.Keys(l.docs), compareKeys) {
		if k.kind == "MetricTemplate" && k.name == name {
			l.docs[k].used = true
			return l.docs[k].doc, true
		}
	}
	return document{}, false
}

func compareKeys(a, b libKey) int {
	switch {
	case a.namespace < b.namespace:
		return -1
	case a.namespace > b.namespace:
		return 1
	}
	return 0
}

// reportUnused notes templates that no Rollout or Canary of the import uses.
func (l *library) reportUnused() {
	for _, e := range l.docs {
		if !e.used {
			e.doc.root.get("kind").dropped("not translated: no Rollout or Canary among the files uses %s %s; coalmine keeps templates inside the plan that uses them", e.doc.kind, e.doc.name)
		}
	}
}

// unusedTemplate reports whether d is a template nobody used (already
// reported as a whole).
func (l *library) unusedTemplate(d document) bool {
	for _, e := range l.docs {
		if e.doc.root.n == d.root.n {
			return !e.used
		}
	}
	return false
}

// argoTemplate is an Argo AnalysisTemplate translated once: the coalmine
// template, and its args that name secrets.
type argoTemplate struct {
	name string
	tmpl plans.AnalysisTemplate
}
