# shellcheck shell=bash
# container.sh -- the project's own container tooling. Source it (after
# scripts/lib.sh), then call ctr_setup once; every later call goes through
# $CTR (podman or docker, whichever is present; podman is installed when
# neither is).
#
#   ctr_setup            pick the engine, install what it needs, settings for this machine
#   ctr_base_image       make sure debian:bookworm-slim exists: pulled from a registry
#                        where one answers, else made here with debootstrap from the
#                        Debian mirror apt already uses (then imported)
#   ctr_healthcheck NAME run the image's HEALTHCHECK once in container NAME
#   ctr_build TAG DIR    build DIR's Dockerfile with its labels (version, commit)
#
# Works on a laptop with Docker or podman and a registry, and on a machine
# with no registry and no container engine but Debian's apt mirror (CI here).
# Runs as root (podman rootful; docker through its daemon).
#
# env: CTR_ENGINE   podman or docker (default: the one found; podman first)
#      CTR_SCRATCH  folder for the settings and the debootstrap tree
#                   (default /tmp/memoscope-container)
#      CTR_PULL_S   how long a pull of the base image may try (default 60)

CTR_BASE=docker.io/library/debian:bookworm-slim
CTR_SCRATCH=${CTR_SCRATCH:-/tmp/memoscope-container}

ctr_log() { printf '[container] %s\n' "$*" >&2; }

ctr_setup() {
    CTR=${CTR_ENGINE:-}
    if [ -z "$CTR" ]; then
        if command -v podman >/dev/null; then
            CTR=podman
        elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
            CTR=docker
        else
            CTR=podman
        fi
    fi
    if [ "$CTR" = podman ]; then
        need_pkgs $CONTAINER_PKGS
        ctr_podman_conf
    else
        need_pkgs curl python3 debootstrap
    fi
    export CTR
}

# Podman settings that work on any rootful Linux host, written to our own
# file (the host's are left alone): runc (crun cannot run on the hybrid
# cgroups of some sandboxes), cgroupfs where systemd does not run the host,
# events to a file (no journald), and rlimits no higher than the hard limits
# we have (podman otherwise asks for more and fails).
ctr_podman_conf() {
    mkdir -p "$CTR_SCRATCH"
    local nofile nproc cgroup=systemd runtime=
    nofile=$(ulimit -Hn)
    [ "$nofile" = unlimited ] && nofile=1048576
    nproc=$(ulimit -Hu)
    { [ "$nproc" = unlimited ] || [ "$nproc" -gt 4096 ]; } && nproc=4096
    [ -d /run/systemd/system ] || cgroup=cgroupfs
    command -v runc >/dev/null && runtime='runtime = "runc"'
    export CONTAINERS_CONF="$CTR_SCRATCH/containers.conf"
    cat >"$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[engine]
$runtime
cgroup_manager = "$cgroup"
events_logger = "file"
CONF
}

ctr_image_exists() {
    if [ "$CTR" = podman ]; then
        podman image exists "$1"
    else
        docker image inspect "$1" >/dev/null 2>&1
    fi
}

# The Debian mirror apt uses here (deb822 .sources or one-line .list), or
# deb.debian.org when none is named.
ctr_debian_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(grep -hoE '^URIs: *[^ ]+/debian/?( |$)' "$f" | head -1 | sed -E 's/^URIs: *//; s/ *$//')
        [ -n "$uri" ] && break
    done
    if [ -z "$uri" ]; then
        uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk '$1 == "deb" && $0 ~ / bookworm / { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { print $i; exit } }')
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

# The same mirror's security archive, when apt here names one.
ctr_security_mirror() {
    local uri
    uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -hoE '^URIs: *[^ ]+/debian-security/?' |
        head -1 | sed -E 's/^URIs: *//')
    echo "${uri:-http://deb.debian.org/debian-security}"
}

# One run at a time makes the base image (two stages, or two people, on one
# machine): the others wait for it under a lock, then find it present.
ctr_base_image() {
    mkdir -p "$CTR_SCRATCH"
    local lock rc=0
    exec {lock}>"$CTR_SCRATCH/base-image.lock"
    flock "$lock"
    ctr_base_image_locked || rc=$?
    exec {lock}>&-
    return "$rc"
}

ctr_base_image_locked() {
    if ctr_image_exists "$CTR_BASE"; then
        ctr_log "base image $CTR_BASE: present"
        return 0
    fi
    ctr_log "base image $CTR_BASE: trying a pull (up to ${CTR_PULL_S:-60} s)"
    if timeout "${CTR_PULL_S:-60}" "$CTR" pull -q "$CTR_BASE" >/dev/null 2>&1; then
        ctr_log "base image pulled"
        return 0
    fi
    ctr_make_base_image
}

# debian:bookworm-slim made here: a minbase debootstrap from the mirror apt
# uses, trimmed as the official image is (no docs, man pages or locales, no
# apt lists), imported with the official image's PATH and CMD.
ctr_make_base_image() {
    need_pkgs debootstrap
    local mirror rootfs t0=$SECONDS
    mirror=$(ctr_debian_mirror)
    rootfs=$CTR_SCRATCH/rootfs
    rm -rf "$rootfs"
    mkdir -p "$CTR_SCRATCH"
    ctr_log "no registry answered: debootstrap bookworm from $mirror (a few minutes)"
    if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$CTR_SCRATCH/debootstrap.log" 2>&1; then
        tail -20 "$CTR_SCRATCH/debootstrap.log" >&2
        ctr_log "debootstrap failed (log: $CTR_SCRATCH/debootstrap.log)"
        return 1
    fi
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $(ctr_security_mirror)
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/locale/*' \
        >"$rootfs/etc/dpkg/dpkg.cfg.d/docker"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
    if ! tar -C "$rootfs" --numeric-owner -c . | "$CTR" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - "$CTR_BASE" >"$CTR_SCRATCH/import.log" 2>&1; then
        cat "$CTR_SCRATCH/import.log" >&2
        rm -rf "$rootfs"
        ctr_log "the import of the tree failed"
        return 1
    fi
    rm -rf "$rootfs"
    ctr_log "base image $CTR_BASE made in $((SECONDS - t0)) s"
}

# Runs the HEALTHCHECK command of container NAME's image once inside it;
# its status is the check's.
ctr_healthcheck() {
    if [ "$CTR" = podman ]; then
        podman healthcheck run "$1"
        return
    fi
    local name=$1 test
    test=$(docker inspect -f '{{json .Config.Healthcheck.Test}}' "$name")
    python3 -c 'import json, sys
t = json.loads(sys.argv[1])
sys.exit(0 if t and t[0] in ("CMD", "CMD-SHELL") else 1)' "$test" || return 1
    # shellcheck disable=SC2046
    eval "set -- $(python3 -c 'import json, shlex, sys
t = json.loads(sys.argv[1])
argv = t[1:] if t[0] == "CMD" else ["sh", "-c", t[1]]
print(" ".join(shlex.quote(a) for a in argv))' "$test")"
    docker exec "$name" "$@" >/dev/null
}

# Removes container NAME at once, running or not; quiet when it is gone.
ctr_rm() {
    if [ "$CTR" = podman ]; then
        podman rm -f -t 0 "$1" >/dev/null 2>&1 || true
    else
        docker rm -f "$1" >/dev/null 2>&1 || true
    fi
}

# The labels' values, from DIR (a checkout): the version from CMakeLists.txt's
# project() (the one place; the build stops when the binary disagrees), the
# commit (with -dirty when tracked files differ from it), and the origin
# remote as the source, when git knows one.
ctr_version() { sed -nE 's/^project\(memoscope VERSION ([0-9][0-9.]*).*/\1/p' "$1/CMakeLists.txt"; }
ctr_revision() {
    local rev
    rev=$(git -C "$1" rev-parse HEAD 2>/dev/null) || {
        echo unknown
        return
    }
    git -C "$1" diff --quiet HEAD -- 2>/dev/null || rev="$rev-dirty"
    echo "$rev"
}
ctr_source() { git -C "$1" remote get-url origin 2>/dev/null || echo unknown; }

# ctr_build TAG DIR: builds DIR's Dockerfile from the local base image only,
# with the labels' values: as build arguments (the build stage checks the
# version) and as --label too, because podman 4.3 reuses a cached LABEL layer
# whose build argument has changed. Podman keeps Docker's image format, so
# that the HEALTHCHECK survives (the OCI format has none).
ctr_build() {
    local version revision source
    version=$(ctr_version "$2") revision=$(ctr_revision "$2") source=$(ctr_source "$2")
    local args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "SOURCE=$source"
        --label "org.opencontainers.image.version=$version"
        --label "org.opencontainers.image.revision=$revision"
        --label "org.opencontainers.image.source=$source")
    if [ "$CTR" = podman ]; then
        BUILDAH_FORMAT=docker podman build --pull=never "${args[@]}" -t "$1" -f "$2/Dockerfile" "$2"
    else
        docker build "${args[@]}" -t "$1" -f "$2/Dockerfile" "$2"
    fi
}
