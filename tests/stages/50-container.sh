#!/usr/bin/env bash
# Stage 50: the container image. Builds the Dockerfile with podman or docker
# (scripts/container.sh: the base image is pulled where a registry answers,
# else made here from the Debian mirror), and proves what
# scripts/container-smoke.sh lists: at most 15 MB, labels that match the
# binary, no shell; run with --read-only --cap-drop ALL --security-opt
# no-new-privileges as a numeric non-root user, healthy by its own probe,
# POST /calculate answered, a Redis host name resolved, a clean stop on SIGTERM.
# Run from the repository root; exits non-zero on any failure.
set -euo pipefail
. scripts/lib.sh

need_pkgs curl python3 redis-server # and the engine: scripts/container.sh installs podman when there is none
t0=$(date +%s)
bash scripts/container-smoke.sh
say "container stage passed in $(($(date +%s) - t0)) s"
