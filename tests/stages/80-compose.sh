#!/usr/bin/env bash
# Stage 80: the stack of deploy/compose.yaml. Builds memoscope's image with the
# project's container tooling (scripts/container.sh), brings the stack up with
# podman-compose (or Docker Compose where docker is the engine), checks that
# memoscope runs as the compose file says (read-only root, no capabilities, no new
# privileges) and becomes healthy by its own probe (the time is shown), waits until
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

# memoscope's container, as compose started it: hardened, and healthy by the
# image's HEALTHCHECK (memoscope --probe), run here (no systemd timer runs it).
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
mc=$("$CTR" ps -q --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=memoscope")
[ -n "$mc" ] || { echo "stage 80: no memoscope container in $project" >&2; exit 1; }
# Timed from the container's start (the stack's build comes before it).
started=$(date -d "$("$CTR" inspect -f '{{.State.StartedAt}}' "$mc" | sed 's/ [A-Z]*$//')" +%s.%N)
healthy=
for _ in $(seq 300); do
    ctr_healthcheck "$mc" >/dev/null 2>&1 && { healthy=$(since "$started"); break; }
    sleep 0.1
done
[ -n "$healthy" ] || { echo "stage 80: memoscope never reported healthy" >&2; "$CTR" logs "$mc" >&2; exit 1; }
[ "$("$CTR" inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$mc")" = true ] ||
    { echo "stage 80: memoscope's root filesystem is writable" >&2; exit 1; }
pid=$("$CTR" inspect -f '{{.State.Pid}}' "$mc")
grep -q '^CapBnd:[[:space:]]*0000000000000000$' "/proc/$pid/status" &&
    grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$pid/status" &&
    ! grep -q '^Uid:[[:space:]]*0[[:space:]]' "/proc/$pid/status" ||
    { echo "stage 80: memoscope is not hardened:" >&2; grep -E '^(Uid|CapBnd|NoNewPrivs):' "/proc/$pid/status" >&2; exit 1; }
echo "stage 80: memoscope healthy ${healthy} s after its start (read-only, no capabilities, no new privileges, uid $(awk '/^Uid:/ { print $2 }' "/proc/$pid/status"))"

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
say "compose stage passed in $(($(date +%s) - t0)) s: memoscope healthy ${healthy} s after its start, target up, memoscope_instances_live 1, $rules rules, memory limit $limit, image $("$CTR" image inspect -f '{{.Size}}' "$MEMOSCOPE_IMAGE") bytes"
