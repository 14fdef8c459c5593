#!/usr/bin/env bash
# Runs every check: generated code, static analysis, Go tests (with the race
# detector) of every module, the Node packages' lint, type checks and tests,
# and the browser end-to-end tests. Needs PostgreSQL and RabbitMQ on
# 127.0.0.1 for the production-mode tests (see .ci/run, which starts them).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

section() { printf '\n==== %s ====\n' "$*"; }

section "generated code (buf lint + buf generate)"
make --no-print-directory check-generated

section "static analysis (go vet + staticcheck)"
make --no-print-directory lint

for m in proto server sdk examples; do
	section "go test: $m"
	# The server's fault tests stop PostgreSQL and restart RabbitMQ, so its
	# packages run one at a time (-p 1): never while another package uses them.
	p=""
	[ "$m" = server ] && p="-p 1"
	(cd "$m" && go test -race -count=1 -timeout 15m $p ./...)
done

# node-transport first: examples/payments installs it from the local folder.
for p in node-transport server/web examples/payments examples/nestjs examples/loadgen-node; do
	if [ -f "$p/package.json" ]; then
		section "node: $p"
		(cd "$p" && npm install --no-save --no-audit --no-fund && npm run --if-present lint && npm run --if-present typecheck && npm run --if-present test)
	fi
done

section "all checks passed"
