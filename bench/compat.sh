#!/usr/bin/env bash
# bench/compat.sh DIR [HALITE]: render every SLS of the community formulas
# checked out under DIR through Salt 3008.3 and through halite and print
# identical / total (see bench/compat.py). Needs Salt 3008.3 in a virtualenv:
#   python3 -m venv /var/tmp/saltvenv && /var/tmp/saltvenv/bin/pip install salt==3008.3
# SALT_VENV overrides the virtualenv; HALITE defaults to this checkout's
# release build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: bench/compat.sh DIR [HALITE]" >&2; exit 2; }
venv=${SALT_VENV:-/var/tmp/saltvenv}
[ -x "$venv/bin/python" ] || { echo "no Salt virtualenv at $venv (set SALT_VENV)" >&2; exit 1; }
halite=${2:-$here/../target/release/halite}
[ -x "$halite" ] || { echo "build halite first: cargo build --release" >&2; exit 1; }
exec "$venv/bin/python" "$here/compat.py" "$1" "$(realpath "$halite")"
