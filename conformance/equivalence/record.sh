#!/bin/sh
# Record the equivalence dump of a source tree (read-only for it): record.sh TREE OUT_DIR
# Then: python conformance/equivalence/compare_dumps.py BEFORE_DIR AFTER_DIR
set -eu
tree=$(cd "$1" && pwd)
out=$(mkdir -p "$2" && cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
py=${PY:-/work/main/.venv/bin/python}
cd "$tree"
HYPOTHESIS_PROFILE=ci PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$here" \
  "$py" -m pytest -q -p eqrec -p no:cacheprovider --eqrec-dir "$out" tests/unit conformance
