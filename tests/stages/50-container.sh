#!/usr/bin/env bash
# Stage 50: the container image (issue 6). Builds the Dockerfile with podman
# or docker (scripts/container.sh: the base image is pulled where a registry
# answers, else made here from the Debian mirror), runs the image, and
# smoke-tests it: /healthz, POST /calculate with a setting given by -e, the
# HEALTHCHECK, a clean stop on SIGTERM, no compiler inside.
# Run from the repository root; exits non-zero on any failure.
set -euo pipefail
. scripts/lib.sh

need_pkgs curl python3 # and the engine: scripts/container.sh installs podman when there is none
t0=$(date +%s)
bash scripts/container-smoke.sh
say "container stage passed in $(($(date +%s) - t0)) s"
