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

if ! $py scripts/ports.py answers "$amqp"; then
    port=$($py scripts/ports.py spare)
    echo "No RabbitMQ answers at ${amqp#*@}: starting a private node on port $port for the tests."
    scripts/rabbitmq-node.sh start "$nodes/rabbitmq" "$port"
    started+=(rabbitmq)
    export TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:$port/"
fi
if ! $py scripts/ports.py answers "$postgres"; then
    port=$($py scripts/ports.py spare)
    echo "No PostgreSQL answers at ${postgres#*@}: starting a private one on port $port for the tests."
    scripts/postgres-node.sh start "$nodes/postgres" "$port"
    started+=(postgres)
    export TEST_POSTGRES_URL="postgresql+asyncpg://postgres@127.0.0.1:$port/postgres"
fi
$py -m pytest "$@"
