#!/usr/bin/env bash
# Stage 80: the stack of deploy/compose.yaml (issue 14.6). Builds memoscope's image
# with the project's container tooling (scripts/container.sh), brings the stack up
# with podman-compose (or Docker Compose where docker is the engine), waits until
# Prometheus has scraped memoscope (/api/v1/targets says "up"), checks that a query
# answers and that the alert rules are loaded, and tears it all down.
# Run from the repository root; exits non-zero on any failure.
set -euo pipefail
. scripts/lib.sh
. scripts/container.sh

need_pkgs curl python3
t0=$(date +%s)
ctr_setup
if [ "$CTR" = podman ]; then
    # podman-compose; the CNI dnsname plugin gives containers their service names
    need_pkgs podman-compose golang-github-containernetworking-plugin-dnsname
    compose=(podman-compose)
else
    compose=(docker compose)
fi
ctr_base_image || { echo "stage 80: no debian:bookworm-slim base image" >&2; exit 1; }
export MEMOSCOPE_IMAGE=localhost/memoscope:compose-stage
ctr_build "$MEMOSCOPE_IMAGE" "$PWD" >/dev/null || { echo "stage 80: the image does not build" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export MEMOSCOPE_PORT=$(free_port) PROMETHEUS_PORT=$(free_port)
project=memoscope-stage80-$$
down() {
    "${compose[@]}" -p "$project" -f deploy/compose.yaml down >/dev/null 2>&1 || true
    [ "$CTR" = podman ] && podman network rm -f "${project}_default" >/dev/null 2>&1 || true
}
trap down EXIT
"${compose[@]}" -p "$project" -f deploy/compose.yaml up -d --build >"${TMPDIR:-/tmp}/$project.log" 2>&1 ||
    { cat "${TMPDIR:-/tmp}/$project.log" >&2; exit 1; }

prom=http://127.0.0.1:$PROMETHEUS_PORT
health=
for _ in $(seq 120); do
    health=$(curl -s "$prom/api/v1/targets" |
        python3 -c 'import json,sys; t=json.load(sys.stdin)["data"]["activeTargets"]; print(t[0]["health"] if t else "")' \
        2>/dev/null || true)
    [ "$health" = up ] && break
    sleep 1
done
[ "$health" = up ] || { echo "stage 80: Prometheus never scraped memoscope (health: '$health')" >&2; exit 1; }
curl -sf -o /dev/null -d '{"a": 1, "b": 2}' "http://127.0.0.1:$MEMOSCOPE_PORT/calculate"
# the instance leaks (global, no bound): once scraped, Prometheus sees it live
live=
for _ in $(seq 30); do
    live=$(curl -s "$prom/api/v1/query?query=memoscope_instances_live" |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' \
        2>/dev/null || true)
    [ "$live" = 1 ] && break
    sleep 1
done
[ "$live" = 1 ] || { echo "stage 80: memoscope_instances_live is '$live', want 1" >&2; exit 1; }
rules=$(curl -s "$prom/api/v1/rules" | python3 -c 'import json,sys; print(sum(len(g["rules"]) for g in json.load(sys.stdin)["data"]["groups"]))')
[ "$rules" -ge 4 ] || { echo "stage 80: $rules alert rules loaded, want 4" >&2; exit 1; }
limit=$(curl -s "http://127.0.0.1:$MEMOSCOPE_PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["memory"]["limit_bytes"])')
say "compose stage passed in $(($(date +%s) - t0)) s: target up, memoscope_instances_live 1, $rules rules, memory limit $limit"
