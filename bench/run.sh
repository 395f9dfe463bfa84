#!/usr/bin/env bash
# The one command: bash bench/run.sh
# Installs wrk (Debian) if missing, makes a venv under $BENCH_BASE with this checkout
# installed, seeds fresh SQLite databases, runs the interleaved rounds, writes RESULTS.md.
# Bounded: stops itself before BENCH_BUDGET_S (default 900 s); every server is stopped by
# its process group on any exit.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
BASE="${BENCH_BASE:-/tmp/tollgate-bench}"
START=$(date +%s)
DEADLINE=$((START + ${BENCH_BUDGET_S:-900}))

if ! command -v wrk >/dev/null; then
    timeout 180 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 180 apt-get install -y -qq wrk >/dev/null
fi
if [ "${BENCH_REUSE_VENV:-0}" != 1 ] || [ ! -x "$BASE/venv/bin/python" ]; then
    rm -rf "$BASE/venv"
    python3 -m venv "$BASE/venv"
    timeout 600 "$BASE/venv/bin/pip" install -q --disable-pip-version-check -e "$ROOT"
fi
rm -rf "$BASE/data" "$BASE/logs"
mkdir -p "$BASE/data" "$BASE/logs"
timeout --signal=TERM --kill-after=30 $((DEADLINE - $(date +%s))) \
    "$BASE/venv/bin/python" "$HERE/bench.py" --base "$BASE" --deadline "$DEADLINE" \
    --duration "${BENCH_DURATION:-8}" --rounds "${BENCH_ROUNDS:-3}" \
    --workers "${BENCH_WORKERS:-2}" --results "${BENCH_RESULTS:-$HERE/RESULTS.md}" \
    --cases "${BENCH_CASES:-}"
