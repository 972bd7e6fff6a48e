#!/usr/bin/env bash
# leakcheck.sh -- does a service keep memory per request? From the outside,
# under load, in one command (docs/leakcheck.md):
#
#   ./loadtest/leakcheck.sh --url URL (--pid PID | --cgroup DIR) [--method POST]
#       [--body JSON] [--duration S] [--connections N] [--out DIR]
#
# Needs wrk, python3 and gnuplot (Debian: apt-get install wrk python3
# gnuplot-nox); installs nothing. Prints the verdict ("grows" or "flat") as
# its last line; exits 1 when memory grows per request, 0 when flat, 2 on a
# usage error or a target that cannot be measured.
set -u
command -v python3 >/dev/null || { echo "leakcheck: python3 is not installed" >&2; exit 2; }
exec python3 "$(dirname "$0")/leakcheck.py" "$@"
