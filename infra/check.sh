#!/usr/bin/env bash
# Checks of the deployment templates, each tool in its own venv under .venv-infra/ (checkov pins
# pydantic and an old HCL parser that clash with the project's pins).
#
#   infra/check.sh setup                 create/update the venvs (idempotent; PyPI)
#   infra/check.sh checkov [JSON_OUT]    checkov over infra/bicep and infra/terraform
#   infra/check.sh parse-bicep FILE...   JSON of each Bicep file (checkov's parser)
#   infra/check.sh parse-tf FILE...      JSON of each Terraform file (python-hcl2)
#   infra/check.sh all                   setup, checkov, parse everything
#
# TAP365_INFRA_VENVS overrides the venv folder; PYTHON the interpreter (3.11 preferred).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENVS="${TAP365_INFRA_VENVS:-$ROOT/.venv-infra}"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
# Exact versions: tests/infra and the report in infra/README.md name the same ones.
CHECKOV_PKGS="checkov==3.3.30"
PARSER_PKGS="python-hcl2==8.1.4"

make_venv() {  # make_venv NAME "PKGS"
  local dir="$VENVS/$1" pkgs="$2"
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.pkgs" 2>/dev/null)" = "$pkgs" ]; then
    return 0
  fi
  echo "infra/check.sh: installing $pkgs into $dir" >&2
  rm -rf "$dir"
  "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check $pkgs >&2
  echo "$pkgs" > "$dir/.pkgs"
}

setup() {
  mkdir -p "$VENVS"
  echo '*' > "$VENVS/.gitignore"
  (
    flock 9
    make_venv checkov "$CHECKOV_PKGS"
    make_venv parsers "$PARSER_PKGS"
  ) 9> "$VENVS/.lock"
}

run_checkov() {  # run_checkov [JSON_OUT]
  local out="${1:-}" work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$work/infra"
  cp -r "$ROOT/infra/bicep" "$ROOT/infra/terraform" "$work/infra/"
  # checkov's Bicep parser predates `extension` (see infra/tools/iac.py): blank those lines,
  # or checkov skips the file as unparsable and reports nothing for it.
  find "$work/infra" -name '*.bicep' -exec sed -i -E 's/^extension[[:space:]].*$//' {} +
  local args=(-d "$work/infra" --framework bicep terraform --skip-download --compact
              --output cli --output json --output-file-path "$work/out")
  # Exit code 1 when a check fails; the CLI summary goes to stdout.
  local rc=0
  BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false \
    "$VENVS/checkov/bin/checkov" "${args[@]}" || rc=$?

  if [ -n "$out" ]; then cp "$work/out/results_json.json" "$out"; fi
  return $rc
}

cmd="${1:-all}"
shift || true
case "$cmd" in
  setup) setup ;;
  checkov) setup; run_checkov "$@" ;;
  parse-bicep) setup; exec "$VENVS/checkov/bin/python" "$ROOT/infra/tools/iac.py" bicep "$@" ;;
  parse-tf) setup; exec "$VENVS/parsers/bin/python" "$ROOT/infra/tools/iac.py" tf "$@" ;;
  all)
    setup
    run_checkov
    "$VENVS/checkov/bin/python" "$ROOT/infra/tools/iac.py" bicep "$ROOT"/infra/bicep/*.bicep > /dev/null
    "$VENVS/parsers/bin/python" "$ROOT/infra/tools/iac.py" tf "$ROOT"/infra/terraform/*.tf > /dev/null
    echo "infra/check.sh: checkov passed, Bicep and Terraform parse"
    ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
