#!/usr/bin/env bash
# A private PostgreSQL cluster, for tests that stop a database (and never the shared one).
#
#   scripts/postgres-node.sh start DIR PORT   create a cluster in DIR (first time) and start it on
#                                             127.0.0.1:PORT; user postgres, trust auth
#   scripts/postgres-node.sh stop DIR         stop that cluster (its data stays in DIR)
#
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user, and
# DIR (which that user must be able to reach) is handed to it.
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
command=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [[ -z $bin ]]; then
    echo "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin)" >&2
    exit 1
fi

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")  # from a folder `postgres` may enter
    else
        "$@"
    fi
}

case $command in
start)
    [[ $# -eq 3 ]] || usage
    port=$3
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    if [[ ! -f $dir/data/PG_VERSION ]]; then
        as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync > "$dir/initdb.log"
    fi
    echo "$port" > "$dir/port"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start > /dev/null
    ;;
stop)
    [[ -f $dir/port ]] || { echo "no cluster was started in $dir" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop > /dev/null
    ;;
*)
    usage
    ;;
esac
