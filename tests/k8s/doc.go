// Package k8s holds the suites that need a Kubernetes control plane:
// deploy/'s manifests against a real API server, the Rollout workflow
// end to end on a kwok cluster, and through a fleet of gateway processes
// that share their route state in a ConfigMap. Every test file carries the k8s build tag,
// so a plain `go test ./...` reports this package as "[no test files]"
// rather than as a pass: run them with `make test-k8s` (-tags k8s, with
// the binaries from `make tools-k8s`).
package k8s
