#!/usr/bin/env bash
# A private three-node (or more) RabbitMQ cluster on this machine, for tests that lose a node.
#
#   scripts/rabbitmq-cluster.sh start DIR PORT1 PORT2 PORT3   each node as scripts/rabbitmq-node.sh
#                                                             starts it, in DIR/PORT, joined to
#                                                             the first
#   scripts/rabbitmq-cluster.sh stop DIR                      stop every node still running
#
# One node is restarted, after it was killed, with `scripts/rabbitmq-node.sh start DIR/PORT PORT`:
# it keeps its cluster membership in DIR/PORT and rejoins by itself.
#
# The nodes share one Erlang cookie (each node's HOME holds a copy). A lost peer is noticed in
# seconds (net_ticktime 5 instead of 60), and a node cut off from the others pauses itself,
# closing its clients' connections so they move to the majority (pause_minority: RabbitMQ's
# advice for a cluster of three or more, and what the service's docs ask of a cluster).
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT1 PORT2 [PORT3...] | stop DIR" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
command=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
node=$(dirname "$0")/rabbitmq-node.sh

case $command in
start)
    [[ $# -ge 4 ]] || usage
    ports=("${@:3}")
    cookie=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    for port in "${ports[@]}"; do
        mkdir -p "$dir/$port"
        rm -f "$dir/$port/.erlang.cookie"
        printf '%s' "$cookie" > "$dir/$port/.erlang.cookie"
        chmod 400 "$dir/$port/.erlang.cookie"
        printf 'net_ticktime = 5\ncluster_partition_handling = pause_minority\n' \
            > "$dir/$port/extra.conf"
    done
    # The nodes boot side by side (a few seconds each), then join the first one by one.
    pids=()
    for port in "${ports[@]}"; do
        "$node" start "$dir/$port" "$port" & pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    first="imgresize-${ports[0]}@localhost"
    # rabbitmqctl prints errors that are no error while a node joins: kept in DIR/join.log.
    for port in "${ports[@]:1}"; do
        for step in stop_app "join_cluster $first" start_app; do
            # shellcheck disable=SC2086 # `join_cluster NODE` is two words
            "$node" ctl "$dir/$port" $step >> "$dir/join.log" 2>&1 \
                || { cat "$dir/join.log" >&2; exit 1; }
        done
    done
    ;;
stop)
    for port_file in "$dir"/*/port; do
        [[ -f $port_file ]] || continue
        "$node" stop "$(dirname "$port_file")" 2> /dev/null || true  # a node already down
    done
    ;;
*)
    usage
    ;;
esac
