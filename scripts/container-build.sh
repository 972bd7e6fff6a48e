#!/usr/bin/env bash
# container-build.sh -- build memoscope's image, its labels filled in.
#
#   scripts/container-build.sh [TAG]        (default: memoscope:latest)
#
# Uses docker or podman, whichever is here (scripts/container.sh; podman is
# installed when neither is), and passes the labels' values: the version from
# CMakeLists.txt (the build stops if the binary says another), the git commit
# and the origin remote. `docker build -t memoscope .` builds the same image
# with those labels left "unknown". Run as root for podman (rootful).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib.sh
. "$root/scripts/lib.sh"
# shellcheck source=container.sh
. "$root/scripts/container.sh"
TAG=${1:-memoscope:latest}
ctr_setup
ctr_base_image
ctr_build "$TAG" "$root"
echo "built $TAG: $("$CTR" image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}} {{.Size}} bytes' "$TAG")"
