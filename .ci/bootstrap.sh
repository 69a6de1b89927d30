#!/usr/bin/env bash
# Create or refresh .venv with a Python >= 3.12 and the project installed (editable, with test extras).
# Used by `make run`, `make test` and .ci/run, so a fresh clone needs nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

ok_python() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
  local c
  for c in "${GOVPROXY_PYTHON:-}" python3.13 python3.12 python3; do
    [ -n "$c" ] || continue
    if command -v "$c" >/dev/null 2>&1 && ok_python "$c"; then command -v "$c"; return 0; fi
  done
  # pyenv shims only answer for the selected version: ask pyenv for installed ones directly.
  if command -v pyenv >/dev/null 2>&1; then
    local v
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9]|[2-9][0-9])(\.[0-9]+)?$' | sort -rV); do
      c="$(pyenv prefix "$v" 2>/dev/null)/bin/python3"
      if [ -x "$c" ] && ok_python "$c"; then echo "$c"; return 0; fi
    done
  fi
  for c in /usr/bin/python3.13 /usr/bin/python3.12 /usr/local/bin/python3.13 /usr/local/bin/python3.12; do
    if [ -x "$c" ] && ok_python "$c"; then echo "$c"; return 0; fi
  done
  return 1
}

if [ -x .venv/bin/python ] && ok_python .venv/bin/python; then
  :
else
  PY="$(find_python)" || {
    echo "govproxy needs Python >= 3.12 (mitmproxy 12). Install one, e.g.:" >&2
    echo "  apt-get install python3.12 python3.12-venv   # or: pyenv install 3.12" >&2
    echo "or point GOVPROXY_PYTHON at an interpreter." >&2
    exit 1
  }
  echo "bootstrap: creating .venv with $PY ($("$PY" -V 2>&1))" >&2
  rm -rf .venv
  "$PY" -m venv .venv
fi

stamp=.venv/.govproxy-installed
want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing govproxy and its dependencies into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[test]'
  echo "$want" > "$stamp"
fi
