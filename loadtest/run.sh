#!/usr/bin/env bash
# run.sh -- the load-test kit in one command (as root on Debian 12):
#
#   ./loadtest/run.sh [options]        (./loadtest/run.sh --help lists them)
#
# Installs what is missing (build tools, wrk, gnuplot, python3), builds the
# server in build/ (unless --server names a binary), then runs
# loadtest/run.py: every cache scope under wrk on 127.0.0.1, /stats sampled
# into CSVs, and a report folder (report.md + PNG plots) under
# loadtest/reports/ (or --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_pkgs $BUILD_PKGS $LOADTEST_PKGS

own_server=
for arg in "$@"; do
    case $arg in
    --server | --server=* | -h | --help) own_server=1 ;;
    esac
done
[ -n "$own_server" ] || build build

# The command as typed, for the report's header.
cmd=./loadtest/run.sh
for arg in "$@"; do cmd+=" $(printf %q "$arg")"; done
# --replicas / --backend: several replicas behind nginx sharing one Redis
# (loadtest/replicas.py); otherwise one process per scope (loadtest/run.py).
runner=loadtest/run.py
for arg in "$@"; do
    case $arg in
    --replicas | --replicas=* | --backend | --backend=*) runner=loadtest/replicas.py ;;
    esac
done
LOADTEST_COMMAND=$cmd exec python3 "$runner" "$@"
