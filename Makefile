# Sawmill monorepo tasks. `make run` starts the server in embedded mode;
# `make test` runs every check CI runs.

# Pinned code generation and lint tools (installed into .bin/).
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
STATICCHECK_VERSION        := v0.8.2

BIN := $(CURDIR)/.bin
GO_MODULES := proto server sdk examples

.PHONY: run build test tools generate check-generated lint bench bench-production bench-search clean

run:
	go run ./server/cmd/sawmill

build:
	mkdir -p $(BIN)
	CGO_ENABLED=0 go build -trimpath -o $(BIN)/sawmill ./server/cmd/sawmill

test:
	./scripts/test.sh

$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(BIN)/protoc-gen-go-grpc:
	GOBIN=$(BIN) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(BIN)/staticcheck:
	GOBIN=$(BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# npm install (not npm ci): npm 11 leaves other platforms' optional packages
# (buf's per-OS binaries) out of the lock file and npm ci then refuses it;
# --no-save still installs exactly the locked versions and never rewrites it.
node_modules/.bin/buf: package.json package-lock.json
	npm install --no-save --no-audit --no-fund
	touch $@

tools: $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/staticcheck node_modules/.bin/buf

generate: tools
	npx buf lint
	npx buf generate

# Fails when the committed generated code differs from what buf generates.
check-generated: generate
	@if [ -n "$$(git status --porcelain -- proto/gen node-transport/src/gen)" ]; then \
		echo "generated code is stale: run 'make generate' and commit"; \
		git status --porcelain -- proto/gen node-transport/src/gen; \
		git --no-pager diff --stat -- proto/gen node-transport/src/gen; exit 1; fi
	@echo "generated code is up to date"

lint: tools
	@unformatted=$$(git ls-files -co --exclude-standard '*.go' | grep -v -e '^proto/gen/' -e '/node_modules/' | xargs gofmt -l); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	@for m in $(GO_MODULES); do echo "== go vet + staticcheck: $$m"; \
		(cd $$m && go vet ./... && $(BIN)/staticcheck ./...) || exit 1; done

clean:
	rm -rf $(BIN) sawmill-data

# The seed-burst benchmark (BENCHMARKS.md): 3 sources x 100,000 logs/s for
# 5 s against a fresh sawmill built from this tree; prints the table and
# writes JSON under bench-out/. BENCH_FLAGS adds driver flags, e.g.
# BENCH_FLAGS="--sdk node" or "--knee" or "--profile bench-out/prof".
BENCH_FLAGS ?=

bench:
	mkdir -p bench-out
	go run ./examples/bench --mode embedded --out bench-out/embedded-$$(date -u +%Y%m%dT%H%M%SZ).json $(BENCH_FLAGS)

# Needs RabbitMQ on 127.0.0.1:5672 (guest/guest, rabbitmqctl on PATH) and
# PostgreSQL on 127.0.0.1:5432 (user postgres, psql on PATH); the run adds
# its own vhost and database and removes them afterwards.
bench-production:
	mkdir -p bench-out
	go run ./examples/bench --mode production --out bench-out/production-$$(date -u +%Y%m%dT%H%M%SZ).json $(BENCH_FLAGS)

# The search benchmark (BENCHMARKS.md, "Search at the scale of a day"): the
# day workload -- 9,000,000 standard records and 4,800,000 long lines, their
# times spread over the last 24 h -- loaded through the real SDK into a fresh
# sawmill of each store (embedded SQLite; PostgreSQL via --database-url, a
# database of its own), then the question set, each answer checked against
# the known count. Needs PostgreSQL on 127.0.0.1:5432 (psql on PATH) for the
# postgres runs. BENCH_FLAGS narrows it, e.g. BENCH_FLAGS="--mode embedded
# --workload standard" or "--records 3000000" or "--mixed 10s".
bench-search:
	mkdir -p bench-out
	go run ./examples/bench search --mode embedded,postgres --workload standard,longline --out bench-out/search-$$(date -u +%Y%m%dT%H%M%SZ).json $(BENCH_FLAGS)
