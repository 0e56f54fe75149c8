# shellcheck shell=bash
# Checks that the API's OpenAPI document is valid OpenAPI 3.1, with the PyPI package
# openapi-spec-validator installed into the project's .venv. Source this file (after
# ops/lib/seaweedfs.sh, whose PP_VENV and pp_apt_install it uses), then:
#
#   pp_validate_openapi      # build the server, print its document, validate it
#
# The document is the one `pigeonpost openapi` prints, which is the one the server serves at
# /api/v1/openapi.json.

PP_ROOT="${PP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
PP_VENV="${PP_VENV:-$PP_ROOT/.venv}"

# Installs openapi-spec-validator into the virtual environment, if it is not there yet.
pp_install_openapi_validator() {
    if "$PP_VENV/bin/python3" -c 'import openapi_spec_validator' >/dev/null 2>&1; then
        return 0
    fi
    if [ ! -x "$PP_VENV/bin/pip" ]; then
        if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
            pp_apt_install python3 python3-venv
        fi
        python3 -m venv "$PP_VENV"
    fi
    echo "    installing openapi-spec-validator into $PP_VENV"
    "$PP_VENV/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator>=0.7,<1"
}

pp_validate_openapi() {
    pp_install_openapi_validator || return 1
    local doc status
    doc="$(mktemp "${TMPDIR:-/tmp}/pigeonpost-openapi.XXXXXX.json")"
    if ! cargo run --quiet --locked --bin pigeonpost -- openapi >"$doc"; then
        rm -f "$doc"
        return 1
    fi
    status=0
    "$PP_VENV/bin/python3" - "$doc" <<'PY' || status=$?
import json, sys
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

with open(sys.argv[1]) as f:
    spec = json.load(f)
if spec.get("openapi", "").split(".")[:2] != ["3", "1"]:
    sys.exit(f"the document says openapi {spec.get('openapi')!r}, not 3.1")
try:
    validate(spec, cls=OpenAPIV31SpecValidator)
except OpenAPIValidationError as e:
    sys.exit(f"the OpenAPI document is not valid: {e}")
print(f"    valid OpenAPI {spec['openapi']}: {len(spec['paths'])} paths")
PY
    rm -f "$doc"
    return "$status"
}
