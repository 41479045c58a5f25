#!/usr/bin/env bash
# `make run`: the API and one worker in the foreground; Ctrl-C stops both (and a private broker).
# When nothing answers at AMQP_URL and it points at this machine, a private RabbitMQ node is
# started on its port for the run, keeping its queues in .run/rabbitmq between runs.
# Either of the two ending (the API's port taken, say) stops the other and fails the run: a
# worker left alone would go on taking jobs. PYTHON names another interpreter (the tests').
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
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
trap stop_all EXIT
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

if [[ -n $private_port ]]; then
    scripts/debian-packages.sh rabbitmq-server
    echo "No broker answers: starting a private RabbitMQ node on port $private_port ($node_dir)."
    private_node=yes
    scripts/rabbitmq-node.sh start "$node_dir" "$private_port"
fi

names=(API worker)
$py -m producer_service & pids+=($!)
$py -m worker_service & pids+=($!)
echo "API on http://${HOST:-127.0.0.1}:${PORT:-8000} (docs at /docs); Ctrl-C stops everything."
status=0
wait -n "${pids[@]}" || status=$?
for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then ended=${names[$i]}; fi
done
echo "make run: the ${ended:-API or worker} exited (status $status); stopping everything (its log above says why)." >&2
exit $((status == 0 ? 1 : status))
