//go:build !k8s

package traffic_test

import "testing"

// TestKubernetesSuitesNeedTag says, in `go test -v` and `-json` output,
// that this package's envtest suites (*_k8s_test.go) did not run: they
// need the k8s build tag and a real API server (make test-k8s).
func TestKubernetesSuitesNeedTag(t *testing.T) {
	t.Skip("the envtest suites of this package (*_k8s_test.go) need -tags k8s and bin/k8s: run make test-k8s")
}
