#!/usr/bin/env bash
# The one command: bash bench/run.sh
# Installs wrk (Debian) if missing, makes two venvs under $BENCH_BASE (the app's, with this
# checkout installed; the peers', from bench/peers-requirements.txt), seeds fresh databases
# (SQLite files; on PostgreSQL one bench database per app, named $BENCH_PG_PREFIX*, and the
# Redis db of BENCH_REDIS_URL (15) emptied), runs the interleaved rounds of Tollgate (also on
# its 10k- and 1M-token scale databases), the minimal baseline, stock Authlib and
# django-oauth-toolkit, writes RESULTS.md.
# Bounded: stops itself before BENCH_BUDGET_S (default 4500 s: the scale cases seed 1M-token
# databases); every server is stopped by its process group on any exit.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
BASE="${BENCH_BASE:-/tmp/tollgate-bench}"
START=$(date +%s)
DEADLINE=$((START + ${BENCH_BUDGET_S:-4500}))

if ! command -v wrk >/dev/null; then
    timeout 180 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 180 apt-get install -y -qq wrk >/dev/null
fi
if [ "${BENCH_REUSE_VENV:-0}" != 1 ] || [ ! -x "$BASE/venv/bin/python" ]; then
    rm -rf "$BASE/venv"
    python3 -m venv "$BASE/venv"
    timeout 600 "$BASE/venv/bin/pip" install -q --disable-pip-version-check -e "$ROOT"
fi
# The peers (Django, django-oauth-toolkit, stock Authlib) never enter the app's venv.
if [ "${BENCH_REUSE_VENV:-0}" != 1 ] || [ ! -x "$BASE/peers-venv/bin/gunicorn" ]; then
    rm -rf "$BASE/peers-venv"
    python3 -m venv "$BASE/peers-venv"
    timeout 600 "$BASE/peers-venv/bin/pip" install -q --disable-pip-version-check \
        -r "$HERE/peers-requirements.txt"
fi
rm -rf "$BASE/data" "$BASE/logs"
mkdir -p "$BASE/data" "$BASE/logs"
timeout --signal=TERM --kill-after=30 $((DEADLINE - $(date +%s))) \
    "$BASE/venv/bin/python" "$HERE/bench.py" --base "$BASE" --deadline "$DEADLINE" \
    --duration "${BENCH_DURATION:-8}" --rounds "${BENCH_ROUNDS:-3}" \
    --workers "${BENCH_WORKERS:-2}" --results "${BENCH_RESULTS:-$HERE/RESULTS.md}" \
    --cases "${BENCH_CASES:-}" --databases "${BENCH_DATABASES:-sqlite,postgres}" \
    --peers-venv "$BASE/peers-venv"
