# presenced — run `make help` for the targets.

GO      ?= go
SQLC    := $(GO) tool -modfile=tools/go.mod sqlc
PKGS    := ./...
# Packages with goroutines of their own run under the race detector.
RACE_PKGS := ./db/... ./sse/... ./client/... ./http/... ./node/... ./cmd/...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## Run presenced (a private PostgreSQL under ./.presenced unless DATABASE_URL is set).
	$(GO) run -ldflags "-X main.version=$(VERSION)" ./cmd/presenced serve

.PHONY: build
build: ## Build bin/presenced.
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/presenced ./cmd/presenced

.PHONY: generate
generate: ## Regenerate the sqlc code in db/internal/dbsqlc from queries/ and migrations/.
	$(SQLC) generate

# verify checks db/schema.sql with a Go test because only a database can
# say what the migrations build: it starts a private PostgreSQL (a few
# seconds; the result is cached until a migration or schema.sql changes).
.PHONY: verify
verify: ## Fail when generated code or db/schema.sql is stale, code is unformatted or go vet complains.
	$(SQLC) diff
	$(SQLC) vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) test -run '^TestSchemaFile$$' ./db/

.PHONY: schema
schema: ## Rewrite db/schema.sql, the schema the migrations build (pg_dump of a freshly migrated database).
	$(GO) test -count=1 -run '^TestSchemaFile$$' ./db/ -update

.PHONY: test-deps
test-deps: ## Install what tests need beyond Go: Debian's chromium (browser tests) and pgbouncer (pooler tests), as root, when missing.
	@if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "test-deps: installing pgbouncer for the pooler tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; \
	  else \
	    echo "test-deps: no pgbouncer and not root with apt-get: install pgbouncer, or the pooler tests fail"; \
	  fi; \
	fi
	@if [ ! -x /usr/bin/chromium ] && ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "test-deps: installing chromium for the browser tests"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	      || echo "test-deps: WARNING: installing chromium failed; the browser tests will be skipped"; \
	  else \
	    echo "test-deps: no chromium and not root with apt-get: the browser tests will be skipped"; \
	  fi; \
	fi

# test ends with a bounded fuzz run of the query language. The budgets are
# counts of executions, not durations: a -fuzztime duration races Go's fuzz
# coordinator at the deadline and fails with a bare "context deadline exceeded"
# and no crasher (golang/go#75804, fixed in Go 1.27). About 15 s per target here.
.PHONY: test
test: verify test-deps ## Verify, then run every test against real PostgreSQL (the race detector on concurrent packages).
	$(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)
	$(GO) test -count=1 -timeout 20m $$($(GO) list $(PKGS) | grep -v -E '/(db|sse|client|http|node|cmd)(/|$$)')
	@# Every benchmark once, so that none rots between runs of make bench (~30 s).
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 10m ./...
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 600000x -fuzzminimizetime 2000x ./db/clause/
	$(GO) test -run '^$$' -fuzz '^FuzzCompile$$' -fuzztime 800000x -fuzzminimizetime 2000x ./db/clause/

.PHONY: test-deps-ha
test-deps-ha: test-deps ## Install what make test-ha needs: Debian's patroni and etcd-server (as root, when missing).
	@if ! command -v patroni >/dev/null 2>&1 || ! command -v etcd >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "test-deps-ha: installing patroni and etcd-server"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patroni etcd-server >/dev/null; \
	  else \
	    echo "test-deps-ha: install patroni and etcd-server (not root with apt-get)"; exit 1; \
	  fi; \
	fi

# test-ha is not part of test: a Patroni failover waits out the leader's TTL
# (about 30 s a run). CI runs it nightly.
.PHONY: test-ha
test-ha: test-deps-ha ## The Patroni failover test: one etcd, two Patroni-managed PostgreSQL, the leader killed.
	PRESENCED_TEST_PATRONI=1 $(GO) test -count=1 -race -timeout 10m -run 'TestPatroniFailover' -v ./node/

.PHONY: test-race
test-race: ## Run every package under the race detector.
	$(GO) test -count=1 -race -timeout 30m $(PKGS)

.PHONY: screenshot
screenshot: test-deps ## Retake docs/wallboard*.png, the README's pictures of the wallboard, in headless Chromium.
	PRESENCED_WALLBOARD_SCREENSHOT=$(CURDIR)/docs/wallboard.png $(GO) test -count=1 -run 'TestWallboard(ShowsTheFloor|WithoutAToken)' ./http/wallboard/
	@ls -l docs/wallboard*.png

.PHONY: lint
lint: ## gofmt and go vet.
	@gofmt -l . | grep . && exit 1 || true
	$(GO) vet $(PKGS)

.PHONY: bench
bench: ## Run the Go benchmarks and the load programs; prints the figures the issues ask for.
	$(GO) test -run '^$$' -bench . -benchtime 3s -timeout 30m ./...
	$(GO) run ./cmd/presenced-load

.PHONY: clean
clean: ## Remove build output (not the data directory).
	rm -rf bin
