#!/usr/bin/env bash
# A private RabbitMQ node, for `make run` when no broker answers and for tests that stop brokers.
#
#   scripts/rabbitmq-node.sh start DIR PORT   start a node on 127.0.0.1:PORT, its state in DIR
#   scripts/rabbitmq-node.sh stop DIR         stop that node (its durable queues stay in DIR)
#   scripts/rabbitmq-node.sh ctl DIR ARGS...  rabbitmqctl ARGS for that node
#
# The node never touches a system broker: its own name, ports, config, plugins and Erlang cookie
# (HOME=DIR), all under DIR. Starting again with the same DIR brings back its durable queues.
# Lines in DIR/extra.conf are added to the node's rabbitmq.conf (scripts/rabbitmq-cluster.sh).
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT | stop DIR | ctl DIR ARGS..." >&2; exit 2; }
[[ $# -ge 2 ]] || usage
command=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

sbin=$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin 2>/dev/null | sort -V | tail -n 1)
if [[ -z $sbin ]]; then
    echo "rabbitmq-server is not installed (no /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin)" >&2
    exit 1
fi

node_env() {
    local port=$1
    export HOME=$dir
    export RABBITMQ_NODENAME="imgresize-$port@localhost"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$port
    export RABBITMQ_DIST_PORT=$((port + 20000))
    export RABBITMQ_MNESIA_BASE=$dir/mnesia
    export RABBITMQ_LOG_BASE=$dir/log
    export RABBITMQ_PID_FILE=$dir/pid
    export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf
    export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf
    export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    export ERL_EPMD_ADDRESS=127.0.0.1
}

case $command in
start)
    [[ $# -eq 3 ]] || usage
    port=$3
    node_env "$port"
    printf 'listeners.tcp.default = 127.0.0.1:%s\n' "$port" > "$RABBITMQ_CONFIG_FILE"
    if [[ -f $dir/extra.conf ]]; then cat "$dir/extra.conf" >> "$RABBITMQ_CONFIG_FILE"; fi
    : > "$RABBITMQ_CONF_ENV_FILE"
    echo '[].' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
    echo "$port" > "$dir/port"
    rm -f "$RABBITMQ_PID_FILE"
    setsid "$sbin/rabbitmq-server" >> "$dir/server.log" 2>&1 < /dev/null &
    # `wait` returns once the pid file exists and the broker application has started.
    if ! "$sbin/rabbitmqctl" -n "$RABBITMQ_NODENAME" -q wait "$RABBITMQ_PID_FILE" --timeout 60; then
        echo "RabbitMQ node on port $port did not start; see $dir/server.log" >&2
        exit 1
    fi
    ;;
stop)
    [[ -f $dir/port ]] || { echo "no node was started in $dir" >&2; exit 1; }
    node_env "$(cat "$dir/port")"
    "$sbin/rabbitmqctl" -n "$RABBITMQ_NODENAME" -q stop "$RABBITMQ_PID_FILE" > /dev/null
    ;;
ctl)
    [[ -f $dir/port ]] || { echo "no node was started in $dir" >&2; exit 1; }
    node_env "$(cat "$dir/port")"
    exec "$sbin/rabbitmqctl" -n "$RABBITMQ_NODENAME" -q "${@:3}"
    ;;
*)
    usage
    ;;
esac
