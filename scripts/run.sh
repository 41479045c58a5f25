#!/usr/bin/env bash
# `make run`: the API and one worker in the foreground; Ctrl-C stops both (and a private broker).
# When nothing answers at AMQP_URL and it points at this machine, a private RabbitMQ node is
# started on its port for the run, keeping its queues in .run/rabbitmq between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
url=${AMQP_URL:-${CLOUDAMQP_URL:-amqp://guest:guest@localhost:5672/}}

# "answers", or "start PORT" for a local URL nobody answers; fails for an unreachable remote one.
probe=$($py - "$url" <<'PY'
import socket
import sys
from urllib.parse import urlsplit

url = urlsplit(sys.argv[1])
host, port = url.hostname or "localhost", url.port or 5672
try:
    socket.create_connection((host, port), timeout=2).close()
    print("answers")
except OSError:
    if host not in ("localhost", "127.0.0.1"):
        sys.exit(f"No broker answers at {host}:{port}; start one or set AMQP_URL.")
    print(f"start {port}")
PY
)

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

if [[ $probe == start* ]]; then
    echo "No broker at $url: starting a private RabbitMQ node on port ${probe#start } ($node_dir)."
    private_node=yes
    scripts/rabbitmq-node.sh start "$node_dir" "${probe#start }"
fi

$py -m producer_service & pids+=($!)
$py -m worker_service & pids+=($!)
echo "API on http://${HOST:-127.0.0.1}:${PORT:-8000} (docs at /docs); Ctrl-C stops everything."
wait -n "${pids[@]}"
