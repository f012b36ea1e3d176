# Shared by scripts/setup and scripts/test: create the venv and install what is missing.
# Sourced, not run. Idempotent: a second run installs nothing new.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FILEWALL_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Debian/Ubuntu packages: optional accelerators (libarchive, 7-Zip, unar) and the real
# test data and tools the tests use (clamav-testfiles, zip, arj ...). Listed one per
# line in scripts/system-packages.txt (and scripts/test-packages.txt for tests only).
install_system_packages() {
  local lists=("$ROOT/scripts/system-packages.txt" "$@")
  local wanted=() missing=()
  for list in "${lists[@]}"; do
    [ -f "$list" ] || continue
    while read -r pkg; do
      pkg="${pkg%%#*}"; pkg="${pkg// /}"
      [ -n "$pkg" ] && wanted+=("$pkg")
    done < "$list"
  done
  [ ${#wanted[@]} -eq 0 ] && return 0
  if ! command -v dpkg-query >/dev/null 2>&1; then
    log "not a Debian-like system: install these yourself if you want them: ${wanted[*]}"
    return 0
  fi
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  log "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq || true
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The virtual environment with filewall (editable) and the given extras.
install_python() {
  local extras="$1"
  if [ ! -x "$PY" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.filewall-installed-$extras"
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    log "installing filewall[$extras] into $VENV"
    "$PY" -m pip install --quiet --upgrade pip >/dev/null
    "$PY" -m pip install --quiet -e "$ROOT[$extras]"
    touch "$stamp"
  fi
}
