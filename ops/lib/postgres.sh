# shellcheck shell=bash
# A throwaway PostgreSQL cluster for tests and development, on a free loopback port.
#
#   source ops/lib/postgres.sh
#   pp_start_postgres WORKDIR   # creates (or restarts) the cluster in WORKDIR/postgres and
#                               # exports PIGEONPOST_TEST_POSTGRES_URL (a superuser URL)
#   pp_stop_postgres [WORKDIR]  # fast shutdown; WORKDIR defaults to the last one started
#
# Debian's PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres`
# user and every server command runs through runuser. It listens on 127.0.0.1 only, with its
# unix socket inside WORKDIR, and trusts local connections: nothing but this machine can reach
# it, and it holds nothing but test data. Starting the same WORKDIR again reuses the cluster
# and its port, so a test can stop the database and bring it back where clients expect it.

pp_postgres_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
        echo "$dir"
        return 0
    fi
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

# Installs Debian's PostgreSQL server when its binaries are missing (needs root).
pp_ensure_postgres() {
    pp_postgres_bindir >/dev/null && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "PostgreSQL is not installed: run 'apt-get install postgresql' as root, then try again" >&2
        return 1
    fi
    echo "==> installing PostgreSQL (apt-get install postgresql)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    # The package starts a system cluster of its own on port 5432; the tests never use it.
    pp_postgres_bindir >/dev/null
}

# Runs a server command as the cluster's owner.
_pp_pg_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

_pp_free_port() {
    local port tries
    for tries in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        # Nothing answering on it: free (a race with another process is caught by pg_ctl).
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "no free loopback port found for PostgreSQL" >&2
    return 1
}

pp_start_postgres() {
    local workdir=${1:?usage: pp_start_postgres WORKDIR}
    pp_ensure_postgres || return 1
    local bindir root data sock log port
    bindir=$(pp_postgres_bindir)
    mkdir -p "$workdir"
    workdir=$(cd "$workdir" && pwd)
    root="$workdir/postgres"
    data="$root/data"
    sock="$root/socket"
    log="$root/postgres.log"
    mkdir -p "$root" "$sock"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$root" "$sock"
        # The postgres user must be able to reach its directory: a mktemp -d WORKDIR is root's
        # alone (mode 700), so let others pass through it (not list or read it).
        if ! runuser -u postgres -- test -x "$root"; then
            chmod o+x "$workdir"
        fi
        if ! runuser -u postgres -- test -x "$root"; then
            echo "the postgres user cannot reach $root: a parent directory is closed to it" >&2
            return 1
        fi
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        _pp_pg_as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync \
            >"$root/initdb.log" 2>&1 || {
            cat "$root/initdb.log" >&2
            echo "initdb failed (log above)" >&2
            return 1
        }
        _pp_free_port >"$root/port" || return 1
        if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$root/port"; fi
    fi
    port=$(cat "$root/port")
    # Throwaway data: no fsync, so a test run on a shared machine is not waiting on the disk.
    if ! _pp_pg_as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$sock -c fsync=off -c full_page_writes=off -c max_connections=300" \
        start >/dev/null; then
        tail -n 30 "$log" >&2 || true
        echo "PostgreSQL did not start on 127.0.0.1:$port (log above, in $log)" >&2
        return 1
    fi
    local i
    for i in $(seq 1 100); do
        if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; then
            break
        fi
        sleep 0.1
    done
    if ! "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; then
        echo "PostgreSQL on 127.0.0.1:$port did not become ready (see $log)" >&2
        return 1
    fi
    export PP_POSTGRES_WORKDIR="$workdir"
    export PIGEONPOST_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "==> PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $data)" >&2
}

pp_stop_postgres() {
    local workdir=${1:-${PP_POSTGRES_WORKDIR:-}}
    [ -n "$workdir" ] || return 0
    local data="$workdir/postgres/data" bindir
    [ -f "$data/postmaster.pid" ] || return 0
    bindir=$(pp_postgres_bindir) || return 0
    _pp_pg_as_owner "$bindir/pg_ctl" -D "$data" -w -t 60 stop -m fast >/dev/null || {
        echo "PostgreSQL in $data did not stop cleanly" >&2
        return 1
    }
}
