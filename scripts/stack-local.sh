#!/usr/bin/env bash
# The reference stack without Docker: sawmill in production mode against
# this machine's RabbitMQ and PostgreSQL (two replicas sharing a fresh vhost
# and a fresh database), the three example services as plain processes, all
# on 127.0.0.1. It sends requests through the services, checks their logs
# arrive in sawmill (examples/deploy/stackcheck), stops everything
# gracefully, checks the services' last logs were flushed, and cleans up:
# processes, the vhost and the database (also on failure or Ctrl-C).
#
#   scripts/stack-local.sh                    # production mode, check, stop
#   scripts/stack-local.sh --mode embedded    # one sawmill, no RabbitMQ/PostgreSQL
#   scripts/stack-local.sh --keep             # start, check, keep running until Ctrl-C
#
# Needs go and node (npm installs the Node packages when missing); in
# production mode RabbitMQ on 127.0.0.1:5672 (guest/guest, rabbitmqctl on
# PATH) and PostgreSQL on 127.0.0.1:5432 (user postgres; PGPASSWORD if it
# asks for one, psql on PATH). Environment overrides: STACK_AMQP_USER,
# STACK_AMQP_PASSWORD, STACK_PG_USER, STACK_TIMEOUT (seconds, default 90).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

mode=production
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--mode) mode=${2:-}; shift 2 ;;
	--mode=*) mode=${1#--mode=}; shift ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "stack-local: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
case "$mode" in production | embedded) ;; *) echo "stack-local: --mode $mode: want production or embedded" >&2; exit 2 ;; esac

amqp_user=${STACK_AMQP_USER:-guest}
amqp_pass=${STACK_AMQP_PASSWORD:-guest}
pg_user=${STACK_PG_USER:-postgres}
timeout=${STACK_TIMEOUT:-90}

log() { printf 'stack-local: %s\n' "$*"; }
die() { printf 'stack-local: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sawmill-stack.XXXXXX")
names=()
pids=()
vhost=""
db=""
sleeper=""

# stop_all sends SIGTERM to every process still running, newest first,
# waits up to 20 s each, then SIGKILL.
stop_all() {
	local i pid
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		pid=${pids[$i]}
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		pids[i]=""
	done
}

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	[ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true
	stop_all
	if [ $status -ne 0 ]; then
		for f in "$work"/*.log; do
			[ -f "$f" ] || continue
			printf '\n---- last lines of %s ----\n' "$(basename "$f")" >&2
			tail -n 25 "$f" >&2 || true
		done
	fi
	if [ -n "$vhost" ]; then
		if rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1; then log "deleted vhost $vhost"; else log "could not delete vhost $vhost"; fi
	fi
	if [ -n "$db" ]; then
		if psql -h 127.0.0.1 -U "$pg_user" -d postgres -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1; then
			log "dropped database $db"
		else
			log "could not drop database $db"
		fi
	fi
	rm -rf "$work"
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME ENV... -- COMMAND...: runs COMMAND in the background with only
# the given environment (plus PATH, HOME and PGPASSWORD), output to NAME.log.
start() {
	local name=$1; shift
	local env=(PATH="$PATH" HOME="${HOME:-/tmp}")
	[ -n "${PGPASSWORD:-}" ] && env+=(PGPASSWORD="$PGPASSWORD")
	while [ "$1" != "--" ]; do env+=("$1"); shift; done
	shift
	env -i "${env[@]}" "$@" >"$work/$name.log" 2>&1 &
	names+=("$name")
	pids+=($!)
}

# wait_http NAME URL SECONDS: waits for a 2xx answer (bounded), failing at
# once if the process died.
wait_http() {
	local name=$1 url=$2 secs=$3 i pid=${pids[${#pids[@]} - 1]}
	for ((i = 0; i < secs * 10; i++)); do
		"$work/bin/httpprobe" -timeout 1s "$url" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || die "$name exited during start (see $name.log below)"
		sleep 0.1
	done
	die "$name not ready at $url after ${secs}s"
}

used_ports=" "
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 30000))
		case "$used_ports" in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used_ports+="$p "
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

command -v go >/dev/null || die "go is not on PATH"
command -v node >/dev/null || die "node is not on PATH"

log "building sawmill, orders, users, stackcheck, httpprobe"
mkdir -p "$work/bin"
CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=stack-local -X main.commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	-o "$work/bin/sawmill" ./server/cmd/sawmill
for p in orders users deploy/stackcheck deploy/httpprobe; do
	go build -o "$work/bin/$(basename "$p")" "./examples/$p"
done

# winston-sawmill is used from node-transport/ (a "file:" dependency).
if [ ! -f node-transport/dist/esm/index.js ] || [ ! -d node-transport/node_modules ]; then
	log "installing and building node-transport (winston-sawmill)"
	(cd node-transport && npm install --no-save --no-audit --no-fund >/dev/null && npm run --silent build >/dev/null)
fi
if [ ! -d examples/payments/node_modules/winston ]; then
	log "installing examples/payments dependencies"
	(cd examples/payments && { npm ci --no-audit --no-fund >/dev/null 2>&1 || npm install --no-audit --no-fund >/dev/null; })
fi

token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
replicas=(a)
[ "$mode" = production ] && replicas=(a b)
declare -A grpc http
for r in "${replicas[@]}"; do
	grpc[$r]=$(free_port)
	http[$r]=$(free_port)
done

mode_env=()
if [ "$mode" = production ]; then
	command -v rabbitmqctl >/dev/null || die "production mode needs rabbitmqctl (or run --mode embedded)"
	command -v psql >/dev/null || die "production mode needs psql (or run --mode embedded)"
	(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || die "no RabbitMQ on 127.0.0.1:5672 (or run --mode embedded)"
	(exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null || die "no PostgreSQL on 127.0.0.1:5432 (or run --mode embedded)"
	suffix="$(date +%s)_$$_$RANDOM"
	vhost="sawmill_stack_$suffix"
	rabbitmqctl -q add_vhost "$vhost" >/dev/null || { vhost=""; die "rabbitmqctl add_vhost failed"; }
	rabbitmqctl -q set_permissions -p "$vhost" "$amqp_user" '.*' '.*' '.*' >/dev/null
	db="sawmill_stack_$suffix"
	psql -h 127.0.0.1 -U "$pg_user" -d postgres -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$db\"" >/dev/null || { db=""; die "CREATE DATABASE failed"; }
	log "created vhost $vhost and database $db"
	mode_env=(
		"SAWMILL_AMQP_URL=amqp://$amqp_user:$amqp_pass@127.0.0.1:5672/$vhost"
		"SAWMILL_DATABASE_URL=postgres://$pg_user@127.0.0.1:5432/$db?sslmode=disable"
		"SAWMILL_AMQP_QUEUE_TYPE=classic"
	)
fi

for r in "${replicas[@]}"; do
	start "sawmill-$r" \
		"SAWMILL_GRPC_ADDR=127.0.0.1:${grpc[$r]}" "SAWMILL_HTTP_ADDR=127.0.0.1:${http[$r]}" \
		"SAWMILL_DATA_DIR=$work/data-$r" "SAWMILL_TOKENS=$token" "SAWMILL_REPLICA_NAME=stack-local-$r" \
		"SAWMILL_SHUTDOWN_TIMEOUT=15s" "${mode_env[@]}" -- "$work/bin/sawmill"
	wait_http "sawmill-$r" "http://127.0.0.1:${http[$r]}/readyz" 60
	log "sawmill-$r ready: gRPC 127.0.0.1:${grpc[$r]}, HTTP http://127.0.0.1:${http[$r]} ($mode mode)"
done
last=${replicas[${#replicas[@]} - 1]}

# Services spread over the replicas: what one logs, every replica shows.
p_users=$(free_port)
p_payments=$(free_port)
p_orders=$(free_port)
common=("LOG_TOKEN=$token" "SERVICE_ENV=stack-local" "SERVICE_VERSION=0.1.0")
start users "HTTP_ADDR=127.0.0.1:$p_users" "LOG_ENDPOINT=127.0.0.1:${grpc[$last]}" "INSTANCE=users-1" "${common[@]}" -- "$work/bin/users"
wait_http users "http://127.0.0.1:$p_users/healthz" 30
start payments "HTTP_ADDR=127.0.0.1:$p_payments" "LOG_ENDPOINT=127.0.0.1:${grpc[a]}" "INSTANCE=payments-1" "${common[@]}" -- node "$root/examples/payments/src/main.js"
wait_http payments "http://127.0.0.1:$p_payments/healthz" 30
start orders "HTTP_ADDR=127.0.0.1:$p_orders" "LOG_ENDPOINT=127.0.0.1:${grpc[a]}" "INSTANCE=orders-1" "${common[@]}" \
	"USERS_URL=http://127.0.0.1:$p_users" "PAYMENTS_URL=http://127.0.0.1:$p_payments" -- "$work/bin/orders"
wait_http orders "http://127.0.0.1:$p_orders/healthz" 30
log "services ready: orders http://127.0.0.1:$p_orders, users http://127.0.0.1:$p_users, payments http://127.0.0.1:$p_payments"

apis=()
for r in "${replicas[@]}"; do apis+=(--api "http://127.0.0.1:${http[$r]}"); done
check=("$work/bin/stackcheck" "${apis[@]}" --token "$token" --timeout "${timeout}s")
"${check[@]}" --orders "http://127.0.0.1:$p_orders" --users "http://127.0.0.1:$p_users" --payments "http://127.0.0.1:$p_payments"

if [ $keep -eq 1 ]; then
	log "running; token $token; Ctrl-C (or SIGTERM) stops everything and cleans up"
	log "try: curl -s -X POST http://127.0.0.1:$p_orders/orders -H 'content-type: application/json' -d '{\"user_id\":\"u1\",\"amount_cents\":1250}'"
	# wait (not a foreground sleep) returns at once on a signal, so the
	# trap runs.
	while true; do
		sleep 3600 &
		sleeper=$!
		wait "$sleeper" || true
	done
fi

# term NAME: SIGTERM, then waits up to 30 s; fails unless it exits 0.
term() {
	local i status
	for i in "${!names[@]}"; do
		if [ "${names[$i]}" != "$1" ] || [ -z "${pids[$i]}" ]; then continue; fi
		kill -TERM "${pids[$i]}"
		for _ in $(seq 1 300); do kill -0 "${pids[$i]}" 2>/dev/null || break; sleep 0.1; done
		kill -0 "${pids[$i]}" 2>/dev/null && die "$1 still running 30s after SIGTERM"
		status=0
		wait "${pids[$i]}" || status=$?
		pids[i]=""
		[ $status -eq 0 ] || die "$1 exited with status $status after SIGTERM"
	done
}

# Graceful stop of the services: each flushes its logs before it exits,
# and its last log must then be in sawmill.
term orders
term payments
term users
"${check[@]}" --shutdown

# Graceful stop of sawmill: drains and exits 0.
for r in "${replicas[@]}"; do term "sawmill-$r"; done
log "PASS ($mode mode, ${#replicas[@]} sawmill replica(s), services orders/users/payments)"
