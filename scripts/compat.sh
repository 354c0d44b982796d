#!/usr/bin/env bash
# Run the test suite on the Function Compute Python versions (3.10 and 3.12) when this machine
# has them (pyenv or pythonX.Y on PATH); a version that is not installed is skipped, loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for v in 3.10 3.12; do
  py=""
  if command -v pyenv >/dev/null 2>&1; then
    full=$(pyenv versions --bare 2>/dev/null | grep -E "^${v//./\\.}\.[0-9]+$" | tail -1 || true)
    if [ -n "$full" ]; then py="$(pyenv root)/versions/$full/bin/python"; fi
  fi
  if [ -z "$py" ] && command -v "python$v" >/dev/null 2>&1 && "python$v" -c pass 2>/dev/null; then py="python$v"; fi
  if [ -z "$py" ]; then echo "compat: Python $v not installed here: skipped"; continue; fi
  venv=".venv$v"
  if [ ! -x "$venv/bin/python" ]; then "$py" -m venv "$venv"; fi
  if [ ! -f "$venv/.installed" ] || [ pyproject.toml -nt "$venv/.installed" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e '.[dev]'
    touch "$venv/.installed"
  fi
  echo "compat: running the suite on $("$venv/bin/python" --version)"
  "$venv/bin/python" -m pytest -q -p no:cacheprovider || status=1
done
exit $status
