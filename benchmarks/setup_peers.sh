#!/usr/bin/env bash
# Create the separate virtualenv used by the benchmark harness and the peer
# task queues (arq, saq, taskiq, dramatiq, celery, rq, huey, streaq).
# The peers are NEVER installed into the project's own .venv.
#
#   benchmarks/setup_peers.sh            # create/update /work/main/.peers-venv
#   PYTHON=python3.11 benchmarks/setup_peers.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VENV="${PEERS_VENV:-$ROOT/.peers-venv}"
PYTHON="${PYTHON:-python3.11}"

if ! command -v redis-server >/dev/null 2>&1; then
  echo "warning: redis-server not on PATH; the harness needs it (apt-get install redis-server)" >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r "$HERE/requirements-peers.txt"

# rtask itself, editable, for the rtask adapter. Tolerated to fail while the
# package is still being written.
if "$VENV/bin/python" -m pip install --quiet -e "$ROOT"; then
  echo "rtask installed (editable) into $VENV"
else
  echo "warning: 'pip install -e $ROOT' failed; the rtask adapter will report unavailable" >&2
fi

"$VENV/bin/python" - <<'PY'
from importlib.metadata import version, PackageNotFoundError
for d in ["arq", "saq", "taskiq", "taskiq-redis", "dramatiq", "celery", "rq", "huey",
          "streaq", "redis", "matplotlib", "psutil", "rtask"]:
    try:
        print(f"  {d:14s} {version(d)}")
    except PackageNotFoundError:
        print(f"  {d:14s} (not installed)")
PY
echo "done: run the benchmarks with  $VENV/bin/python benchmarks/run.py  (or --quick)"
