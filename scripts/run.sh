#!/usr/bin/env bash
# `make run`: the API and one worker in the foreground; Ctrl-C stops both (and a private broker).
# When nothing answers at AMQP_URL and it points at this machine, a private RabbitMQ node is
# started on its port for the run, keeping its queues in .run/rabbitmq between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
url=${AMQP_URL:-${CLOUDAMQP_URL:-amqp://guest:guest@localhost:5672/}}

# Empty when a broker answers; the port for a private node when none does on this machine.
private_port=$($py scripts/ports.py local-port "$url")

pids=()
node_dir=.run/rabbitmq
private_node=no
stop_all() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait "${pids[@]}" 2>/dev/null || true
    if [[ $private_node == yes ]]; then scripts/rabbitmq-node.sh stop "$node_dir" || true; fi
}
trap stop_all INT TERM EXIT

if [[ -n $private_port ]]; then
    scripts/debian-packages.sh rabbitmq-server
    echo "No broker answers: starting a private RabbitMQ node on port $private_port ($node_dir)."
    private_node=yes
    scripts/rabbitmq-node.sh start "$node_dir" "$private_port"
fi

$py -m producer_service & pids+=($!)
$py -m worker_service & pids+=($!)
echo "API on http://${HOST:-127.0.0.1}:${PORT:-8000} (docs at /docs); Ctrl-C stops everything."
wait -n "${pids[@]}"
