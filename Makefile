# coalmine's build. `make test` is the test command CI runs; it builds every
# tool the tests need into bin/ first (skipped when already there).

GO        ?= go
BIN       := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)

STATICCHECK_VERSION := v0.8.2
WORKFLOWCHECK_VERSION := v0.6.0
# The Temporal CLI (its dev server) is pinned in tools/devserver/go.mod.
# The Temporal server the CLI's dev server embeds, for bench-orchestrator-sql.
TEMPORAL_SERVER_VERSION := v1.29.1
PROMETHEUS_VERSION := v0.316.0

.PHONY: all build test lint fuzz clean tools

all: build

## build: the coalmine binary in bin/
build:
	$(GO) build -o $(BIN)/coalmine ./cmd/coalmine

## test: every test suite that fits the time budget (CI runs this)
test: build tools
	$(GO) test -count=1 -timeout 20m ./...

## lint: gofmt, go vet, staticcheck, workflowcheck (determinism of workflows/)
lint: $(BIN)/staticcheck $(BIN)/workflowcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...
	$(BIN)/workflowcheck ./workflows/...

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./plans -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME)
	$(GO) test ./analysis -run '^$$' -fuzz '^FuzzCondition$$' -fuzztime $(FUZZTIME)
	$(GO) test ./analysis -run '^$$' -fuzz '^FuzzSequentialLook$$' -fuzztime $(FUZZTIME)

## tools: binaries the tests need, built from Go modules into bin/
tools: $(BIN)/prometheus $(BIN)/temporal

$(BIN)/workflowcheck:
	GOBIN=$(BIN) $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Built from tools/devserver, which takes a newer SQLite driver than the
# CLI's own (see its go.mod); rebuilt when that go.mod changes.
$(BIN)/temporal: tools/devserver/go.mod
	@echo "building the Temporal dev server (temporal CLI, tools/devserver/go.mod) into bin/; first time only, a few minutes"
	cd tools/devserver && $(GO) build -o $(BIN)/temporal github.com/temporalio/cli/cmd/temporal

# The remove_all_sd tag leaves out service discovery: one of its dependencies
# is not served by the module proxy, and the tests use static targets only.
$(BIN)/prometheus:
	@echo "building Prometheus $(PROMETHEUS_VERSION) into bin/; first time only, about two minutes"
	GOBIN=$(BIN) $(GO) install -tags remove_all_sd github.com/prometheus/prometheus/cmd/prometheus@$(PROMETHEUS_VERSION)

## bench-detect: detection benchmark (deterministic simulation), prints the table for docs/benchmarks.md; RUNS rollouts per cell
RUNS ?= 1000
.PHONY: bench-detect
bench-detect:
	$(GO) run ./tests/detect -runs $(RUNS)

## bench-gateway: LLM-shaped streams (1,000 and 10,000 at once) through the gateway, nginx and a plain httputil.ReverseProxy: added TTFT and chunk delay, CPU and memory per stream, saturation line (needs nginx, wrk; root for the file limit; about 4 minutes)
.PHONY: bench-gateway
bench-gateway: build
	@command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "bench-gateway needs nginx and wrk: apt-get install -y nginx wrk"; exit 1; }
	$(GO) build -o $(BIN)/benchgateway ./tests/benchgateway
	$(BIN)/benchgateway -coalmine $(BIN)/coalmine

## bench-routes: gateway memory per route once rollouts have written to it (100 and 1,000 routes; heap in use and RSS, idle and after rollouts); about a minute
.PHONY: bench-routes
bench-routes:
	$(GO) run ./tests/benchroutes

## bench-orchestrator: BENCH_N concurrent rollouts (default 100,300,1000) of BENCH_PLAN (fast or production) on one worker, one gateway and the Temporal dev server, plus 10 aborted under load; prints a table per N (the fast plan at N=1000 takes about 10 minutes, production about 40)
BENCH_N    ?= 100,300,1000
BENCH_PLAN ?= fast
BENCH_ARGS ?=
.PHONY: bench-orchestrator
bench-orchestrator: build $(BIN)/temporal
	$(GO) build -o $(BIN)/benchorchestrator ./tests/benchorchestrator
	$(BIN)/benchorchestrator -coalmine $(BIN)/coalmine -temporal $(BIN)/temporal -n $(BENCH_N) -plan $(BENCH_PLAN) $(BENCH_ARGS)

## bench-orchestrator-sql: bench-orchestrator against the Temporal server (4 history shards) on a PostgreSQL started for each run; needs PostgreSQL (apt-get install -y postgresql; PG_BIN is the folder of its initdb and postgres, default the newest /usr/lib/postgresql/*/bin) and builds the server and its SQL tool first
PG_BIN ?= $(lastword $(sort $(wildcard /usr/lib/postgresql/*/bin)))
.PHONY: bench-orchestrator-sql
bench-orchestrator-sql: build $(BIN)/temporal tools-sql
	$(GO) build -o $(BIN)/benchorchestrator ./tests/benchorchestrator
	$(BIN)/benchorchestrator -server postgres $(if $(PG_BIN),-pg-bin $(PG_BIN)) -coalmine $(BIN)/coalmine -temporal $(BIN)/temporal \
		-temporal-server $(BIN)/temporal-server -sql-tool $(BIN)/temporal-sql-tool -n $(BENCH_N) -plan $(BENCH_PLAN) $(BENCH_ARGS)

## tools-sql: the Temporal server and its SQL schema tool ($(TEMPORAL_SERVER_VERSION), the dev server's) built from Go modules into bin/temporal-server and bin/temporal-sql-tool (first time only, several minutes)
.PHONY: tools-sql
tools-sql: $(BIN)/temporal-server

# One go install makes both; temporal-server stands for them.
$(BIN)/temporal-server:
	@echo "building the Temporal server and temporal-sql-tool $(TEMPORAL_SERVER_VERSION) into bin/ (first time only, several minutes)"
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	GOBIN=$$tmp $(GO) install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION) go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION); \
	mkdir -p $(BIN); mv $$tmp/sql $(BIN)/temporal-sql-tool; mv $$tmp/server $(BIN)/temporal-server

clean:
	rm -rf $(BIN) dist

## image: the OCI image of the static binary (non-root, no shell) in dist/, built without a container daemon, then checked by running `coalmine version` from its unpacked layers
IMAGE     ?= coalmine
IMAGE_TAG ?= dev
IMAGE_DIR := $(CURDIR)/dist/coalmine-image
.PHONY: image
image:
	@mkdir -p dist/image
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags "-s -w -X main.version=$(IMAGE_TAG)" -o dist/image/coalmine ./cmd/coalmine
	cd tools/image && $(GO) run . build -binary $(CURDIR)/dist/image/coalmine -out $(IMAGE_DIR) -ref $(IMAGE):$(IMAGE_TAG)
	cd tools/image && $(GO) run . check -layout $(IMAGE_DIR)

## chaos: real rollouts on separate processes (Temporal with a database file, worker, gateway, demo agents, load), SIGKILLed at chosen and random moments, at least 50 kills; prints fault × count × correct and times to 0% canary (about 10-15 minutes; not part of make test; CHAOS_FLAGS="-seed N" repeats a run)
.PHONY: chaos
chaos: $(BIN)/temporal
	$(GO) run ./tests/chaos $(CHAOS_FLAGS)

## record-histories: record the Rollout histories that the replay test checks into tests/testdata/<version>/ (never overwrites)
.PHONY: record-histories
record-histories: $(BIN)/temporal
	$(GO) test -count=1 ./tests/rollout -record

## record-histories-k8s: record the workload-lifecycle Rollout histories (a canary Deployment on kwok) into tests/testdata/v3-workload-lifecycle/ (never overwrites)
.PHONY: record-histories-k8s
record-histories-k8s: $(BIN)/temporal tools-k8s
	KUBEBUILDER_ASSETS=$(K8S_BIN) $(GO) test -count=1 -tags k8s ./tests/k8s -run 'TestRolloutOnKubernetes/(promoted|aborted)' -record

## tools-k8s: etcd, kube-apiserver, kubectl, kube-controller-manager, kube-scheduler and kwok built from Go modules into bin/k8s/ (first time only: several minutes)
K8S_VERSION  := v1.34.4
KWOK_VERSION := v0.8.0
K8S_BIN      := $(BIN)/k8s
K8S_LDFLAGS  := $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,-X $(p).gitVersion=$(K8S_VERSION) -X $(p).gitMajor=1 -X $(p).gitMinor=34 -X $(p).gitTreeState=clean)
K8S_CMDS     := kube-apiserver kube-controller-manager kube-scheduler kubectl
.PHONY: tools-k8s
tools-k8s: $(K8S_BIN)/etcd $(K8S_BIN)/kube-apiserver $(K8S_BIN)/kwok

$(K8S_BIN)/etcd:
	@echo "building etcd into bin/k8s/ from tools/k8s (first time only, under a minute)"
	cd tools/k8s && $(GO) build -o $(K8S_BIN)/etcd go.etcd.io/etcd/server/v3

# One go build makes all four Kubernetes commands; kube-apiserver stands for them.
$(K8S_BIN)/kube-apiserver:
	@echo "building kube-apiserver, kube-controller-manager, kube-scheduler and kubectl $(K8S_VERSION) into bin/k8s/ (first time only, about five minutes)"
	@mkdir -p $(K8S_BIN)
	cd tools/k8s && $(GO) build -ldflags "$(K8S_LDFLAGS)" -o $(K8S_BIN)/ $(addprefix k8s.io/kubernetes/cmd/,$(K8S_CMDS))

$(K8S_BIN)/kwok:
	@echo "building kwok $(KWOK_VERSION) into bin/k8s/ (first time only, about a minute and a half)"
	GOBIN=$(K8S_BIN) $(GO) install sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)

## test-k8s: the Kubernetes suites (routers on envtest, workload lifecycle on kwok, deploy/ dry run, end to end)
.PHONY: test-k8s
test-k8s: build tools tools-k8s
	KUBEBUILDER_ASSETS=$(K8S_BIN) $(GO) test -count=1 -timeout 20m -tags k8s ./activities/traffic/... ./activities/workload/... ./releases/... ./gateway/... ./tests/k8s/...

## demo: two real canaries end to end on this machine: one promoted at its gate, one caught and rolled back (SPEED=10; SPEED=1 runs the plan's real durations)
SPEED ?= 10
.PHONY: demo
demo: build $(BIN)/temporal
	$(BIN)/coalmine demo --speed $(SPEED)

## screenshots: docs/webui-rollout.png, the Temporal Web UI showing the demo's rolled-back canary (installs Debian's chromium if missing; not part of test)
SCREENSHOT_UI_PORT ?= 8299
.PHONY: screenshots
screenshots: build $(BIN)/temporal
	@command -v chromium >/dev/null || { echo "screenshots: installing Debian's chromium (apt-get update, then apt-get install -y chromium)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	@set -eu; log=$$(mktemp); profile=$$(mktemp -d); \
	echo "screenshots: running the demo in the background (log $$log), Web UI on port $(SCREENSHOT_UI_PORT)"; \
	$(BIN)/coalmine demo --speed 30 --hold --ui-port $(SCREENSHOT_UI_PORT) >"$$log" 2>&1 & pid=$$!; \
	trap 'kill -INT $$pid 2>/dev/null; wait $$pid 2>/dev/null; rm -rf "$$profile"' EXIT; \
	for i in $$(seq 300); do grep -q "keeps running for the Web UI" "$$log" && break; kill -0 $$pid 2>/dev/null || { cat "$$log"; exit 1; }; sleep 1; done; \
	url=$$(sed -n 's/^  bad canary: //p' "$$log"); test -n "$$url" || { cat "$$log"; exit 1; }; \
	echo "screenshots: chromium --headless --screenshot=docs/webui-rollout.png $$url"; \
	chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
		--no-first-run --disable-sync --user-data-dir="$$profile" --hide-scrollbars --window-size=1400,900 \
		--virtual-time-budget=15000 --screenshot=$(CURDIR)/docs/webui-rollout.png "$$url" 2>/dev/null; \
	echo "screenshots: docs/webui-rollout.png ($$(du -k docs/webui-rollout.png | cut -f1) KB); stopping the demo"
