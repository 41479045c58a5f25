#!/usr/bin/env bash
# `make test`: the whole suite (arguments go to pytest) against a real RabbitMQ and a real
# PostgreSQL. When nothing answers at TEST_AMQP_URL or TEST_POSTGRES_URL (by default this
# machine's standard ports), a private node is started on spare ports for the run, in a
# temporary folder, and stopped after; a shared broker or database is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
amqp=${TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
postgres=${TEST_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}

# Outside .run: as root a private PostgreSQL runs as `postgres`, who must reach its folder.
nodes=$(mktemp -d /tmp/imgresize-test-nodes.XXXXXX)
chmod 755 "$nodes"
started=()
stop_nodes() {
    for node in "${started[@]}"; do scripts/"$node"-node.sh stop "$nodes/$node" || true; done
    rm -rf "$nodes"
}
trap stop_nodes EXIT

# start_private NODE WHAT URL: a private node on a spare port, its URL (PORT filled in) in
# $private_url. (Not in a subshell: `started` must remember it.)
start_private() {
    local port
    port=$($py scripts/ports.py spare)
    echo "No $2 answers: starting a private one on port $port for the tests."
    scripts/"$1"-node.sh start "$nodes/$1" "$port"
    started+=("$1")
    private_url=${3/PORT/$port}
}

if ! $py scripts/ports.py answers "$amqp"; then
    start_private rabbitmq RabbitMQ "amqp://guest:guest@127.0.0.1:PORT/"
    export TEST_AMQP_URL=$private_url
fi
if ! $py scripts/ports.py answers "$postgres"; then
    start_private postgres PostgreSQL "postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres"
    export TEST_POSTGRES_URL=$private_url
fi
# Most tests wait (on the broker, the database, a service's process) rather than compute, so one
# pytest-xdist worker more than there are cores keeps them busy; each test has queues, databases
# and ports of its own. TEST_WORKERS=0 runs every test in this one process, in order.
workers=${TEST_WORKERS:-$(($(nproc) + 1))}
$py -m pytest --numprocesses "$workers" --dist worksteal "$@"
