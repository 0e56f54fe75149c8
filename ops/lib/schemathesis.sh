# shellcheck shell=bash
# Checks the running API against its own OpenAPI document with schemathesis (PyPI), installed
# into the project's .venv. Source this file after ops/lib/seaweedfs.sh (PP_VENV,
# pp_free_ports), then:
#
#   pp_check_api_conformance BIN WORKDIR
#
# BIN is a built `pigeonpost`; WORKDIR a scratch directory. It starts BIN on a fresh data
# directory and a free loopback port, with a school, a team and an API key, and an LA
# administrator signed in with a second factor, and runs schemathesis twice against
# /api/v1/openapi.json: once with the key, once with the administrator's session. A run fails
# on any 5xx, any answer that does not match the document's schema for its status, any status
# the document does not list, or a wrong content type. The seed is fixed, so a failure repeats.

PP_ROOT="${PP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
PP_VENV="${PP_VENV:-$PP_ROOT/.venv}"
PP_SCHEMATHESIS_SEED="${PP_SCHEMATHESIS_SEED:-20261207}"
PP_SCHEMATHESIS_EXAMPLES="${PP_SCHEMATHESIS_EXAMPLES:-12}"

pp_install_schemathesis() {
    if [ -x "$PP_VENV/bin/st" ]; then
        return 0
    fi
    echo "    installing schemathesis into $PP_VENV"
    "$PP_VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis>=4.3,<5"
}

# A TOTP code for a base32 secret, now (RFC 6238: SHA-1, 6 digits, 30 s).
_pp_totp() {
    "$PP_VENV/bin/python3" - "$1" <<'PY'
import base64, hashlib, hmac, struct, sys, time
secret = base64.b32decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 8))
mac = hmac.new(secret, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
offset = mac[-1] & 0x0F
print("%06d" % ((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1000000))
PY
}

# A JSON field of stdin.
_pp_json() {
    "$PP_VENV/bin/python3" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

pp_check_api_conformance() {
    local bin="$1" dir="$2/schemathesis"
    pp_install_schemathesis || return 1
    mkdir -p "$dir"
    local data="$dir/data" port key url cert status=0 server
    local pp=("$bin" --data-dir "$data")
    port="$(pp_free_ports 1)"
    url="https://localhost:$port"
    "${pp[@]}" admin org add --kind school --dfe 825/2001 --name "Ashby Green Primary School" >/dev/null
    "${pp[@]}" admin org add --kind school --dfe 825/3301 --name "St Mary's Primary School" >/dev/null
    "${pp[@]}" admin org add --kind team --slug smst --name "School Management Support Team" >/dev/null
    key="$("${pp[@]}" admin key create --org 825/2001 --name conformance --channels '*')"
    printf '%s\n' 'conformance check password 2026' |
        "${pp[@]}" admin user add --org smst --username la.admin --name "LA Admin" --role la_admin \
            --password-stdin >/dev/null

    PIGEONPOST_METRICS_LISTEN= "${pp[@]}" serve --listen "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
    server=$!
    local tries
    for tries in $(seq 1 100); do
        grep -q "listening on" "$dir/server.log" && break
        if ! kill -0 "$server" 2>/dev/null; then
            cat "$dir/server.log" >&2
            return 1
        fi
        sleep 0.2
    done
    cert="$data/tls/dev-cert.pem"
    local curl=(curl -sS --fail-with-body --cacert "$cert" -H 'Content-Type: application/json')

    # The administrator signs in and enrols a second factor, as README.md shows.
    local access enrolment secret
    access="$("${curl[@]}" -d '{"username":"la.admin","password":"conformance check password 2026"}' \
        "$url/api/v1/session" | _pp_json access_token)" || status=1
    if [ "$status" = 0 ]; then
        enrolment="$("${curl[@]}" -X POST -H "Authorization: Bearer $access" "$url/api/v1/session/totp")" || status=1
        secret="$(_pp_json otpauth_uri <<<"$enrolment" | sed -n 's/.*[?&]secret=\([A-Z2-7]*\).*/\1/p')"
        "${curl[@]}" -H "Authorization: Bearer $access" -d "{\"code\": \"$(_pp_totp "$secret")\"}" \
            "$url/api/v1/session/totp/confirm" >/dev/null || status=1
    fi

    local st=("$PP_VENV/bin/st" run "$url/api/v1/openapi.json" --tls-verify "$cert"
        --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance
        --max-examples "$PP_SCHEMATHESIS_EXAMPLES" --seed "$PP_SCHEMATHESIS_SEED" --workers 1
        --phases examples,coverage,fuzzing)
    # Both runs, even when the first fails, so one test shows every mismatch.
    local who token run
    for who in key session; do
        [ -n "${access:-}" ] || break
        if [ "$who" = key ]; then token=$key; else token=$access; fi
        echo "    with $([ "$who" = key ] && echo "a school's API key" || echo "an LA administrator's session")"
        run=0
        # From the scratch directory: schemathesis keeps a cache of what it found where it runs.
        (cd "$dir" && "${st[@]}" -H "Authorization: Bearer $token") >"$dir/$who.log" 2>&1 || run=$?
        if [ "$run" = 0 ]; then
            grep -E '^(Test cases|  [0-9]+ generated)' -A1 "$dir/$who.log" | sed -n 2p | sed 's/^ */    /'
        else
            cat "$dir/$who.log"
            status=$run
        fi
    done
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null || true
    if [ "$status" != 0 ]; then
        echo "the API does not match its OpenAPI document (above); the server's log: $dir/server.log" >&2
    fi
    return "$status"
}
