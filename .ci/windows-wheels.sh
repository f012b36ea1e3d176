#!/usr/bin/env bash
# Windows-wheels check: every core dependency in pyproject.toml (and everything they pull
# in) must install on 64-bit Windows, CPython 3.11, from wheels alone -- no compiler on the
# agent's PC. The list is read from pyproject.toml with tomllib, so it stays true.
#
#   .ci/windows-wheels.sh          (exit 0: all good, or only the known gaps listed below)
#
# Exceptions are explicit, each with its reason:
#   PURE_SDIST  published only as an sdist but pure Python: downloaded as source and
#               checked to contain no compiled code (no .c/.cpp/.pyx/.rs, no ext_modules).
#   KNOWN_GAP   a real Windows gap that someone must fix; printed loudly on every run, and
#               the run fails if the entry is stale (the gap closed or the dependency left).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python

# name (as in pyproject) -> reason
declare -A PURE_SDIST=(
  # Checked 2026-11: pefile 2024.8.26 and cabarchive 0.2.5 now ship py3-none-any wheels,
  # so nothing needs this list today. Keep the mechanism for the next sdist-only package.
)
declare -A KNOWN_GAP=(
  # (empty: zipfile-deflate64 was replaced by filewall/extract/_deflate64.py on inflate64)
)

mapfile -t DEPS < <("$PY" - <<'EOF'
import tomllib
with open("pyproject.toml", "rb") as handle:
    for requirement in tomllib.load(handle)["project"]["dependencies"]:
        print(requirement)
EOF
)

name_of() {  # "pypdf[crypto]==7.1.0" -> "pypdf"
  local spec="$1"
  spec="${spec%%[<>=!~;[ ]*}"
  printf '%s' "$spec" | tr 'A-Z_.' 'a-z--'
}

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
WHEELS=() SDISTS=() GAPS=()
for dep in "${DEPS[@]}"; do
  name="$(name_of "$dep")"
  if [ -n "${PURE_SDIST[$name]+x}" ]; then
    SDISTS+=("$dep")
  elif [ -n "${KNOWN_GAP[$name]+x}" ]; then
    GAPS+=("$dep")
  else
    WHEELS+=("$dep")
  fi
done
status=0

echo "windows-wheels: ${#WHEELS[@]} core requirements must resolve to win_amd64/cp311 wheels (with their dependencies)"
if ! "$PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --platform win_amd64 --python-version 3.11 --implementation cp --abi cp311 \
    -d "$TMP/wheels" "${WHEELS[@]}"; then
  echo "windows-wheels: FAILED: a core dependency has no Windows wheel (see pip's message above)" >&2
  status=1
else
  echo "windows-wheels: ok, $(ls "$TMP/wheels" | wc -l) wheels:"
  ls "$TMP/wheels" | sed 's/^/    /'
fi

for dep in "${SDISTS[@]}"; do
  name="$(name_of "$dep")"
  echo "windows-wheels: exception (pure-Python sdist) $dep: ${PURE_SDIST[$name]}"
  mkdir -p "$TMP/sdist-$name"
  "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary=:all: -d "$TMP/sdist-$name" "$dep"
  archive="$(ls "$TMP/sdist-$name"/*)"
  mkdir -p "$TMP/src-$name"
  tar -xf "$archive" -C "$TMP/src-$name" 2>/dev/null || "$PY" -m zipfile -e "$archive" "$TMP/src-$name"
  if find "$TMP/src-$name" -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.pyx' -o -name '*.rs' \) | grep -q . ||
     grep -rqs -e 'ext_modules' -e 'Extension(' --include=setup.py --include=pyproject.toml --include=setup.cfg "$TMP/src-$name"; then
    echo "windows-wheels: FAILED: $dep is listed as pure Python but its sdist has compiled code" >&2
    status=1
  fi
done

for dep in "${GAPS[@]}"; do
  name="$(name_of "$dep")"
  if "$PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: --no-deps \
      --platform win_amd64 --python-version 3.11 --implementation cp --abi cp311 \
      -d "$TMP/gap-$name" "$dep" >/dev/null 2>&1; then
    echo "windows-wheels: FAILED: $dep now has a Windows wheel; remove it from KNOWN_GAP" >&2
    status=1
  else
    echo "windows-wheels: KNOWN GAP (not fixed yet): $dep: ${KNOWN_GAP[$name]}" >&2
  fi
done
for name in "${!KNOWN_GAP[@]}" "${!PURE_SDIST[@]}"; do
  found=0
  for dep in "${DEPS[@]}"; do [ "$(name_of "$dep")" = "$name" ] && found=1; done
  if [ "$found" = 0 ]; then
    echo "windows-wheels: FAILED: $name is listed as an exception but is no longer a core dependency; remove it" >&2
    status=1
  fi
done
exit "$status"
