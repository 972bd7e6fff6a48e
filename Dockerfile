# memoscope as a container: docs/container.md tells how to build and run it.
#
#   scripts/container-build.sh                  (the labels filled in), or
#   docker build -t memoscope .
#   docker run --rm --read-only --cap-drop ALL --security-opt no-new-privileges \
#       -p 127.0.0.1:8080:8080 memoscope
#
# Two stages: the first has the compiler and the -dev packages and builds a
# stripped Release binary; the second starts FROM scratch and holds that
# binary, the loader and exactly the shared libraries it loads (found from the
# binary by scripts/container-rootfs.sh), and an /etc with one unprivileged
# user: no shell, no package manager, nothing setuid. Every setting is a
# MEMOSCOPE_* environment variable (the binary reads them itself), or a flag
# after the image name. tests/stages/50-container.sh proves all of this.

# ---------------------------------------------------------------- build stage
FROM debian:bookworm-slim AS build

# One layer for the toolchain, before any source is copied, so that a change
# to the code does not reinstall it.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        build-essential cmake pkg-config libmicrohttpd-dev libcjson-dev libhiredis-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Only what the server's build reads; the tests and benchmarks are left out
# with MEMOSCOPE_TESTS=OFF (they need libcurl and more).
COPY CMakeLists.txt ./
COPY cache/ cache/
COPY server/ server/
COPY scripts/container-rootfs.sh scripts/

# The version label must be the binary's own (CMakeLists.txt's project
# version): a VERSION given that disagrees stops the build.
ARG VERSION=
ARG RUN_UID=10001
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DMEMOSCOPE_TESTS=OFF \
    && cmake --build /build --target memoscope -j "$(nproc)" \
    && strip --strip-unneeded /build/server/memoscope \
    && built=$(/build/server/memoscope --version) \
    && echo "$built" \
    && { [ -z "$VERSION" ] || [ "$built" = "memoscope $VERSION" ] \
         || { echo "VERSION=$VERSION, but the binary says: $built" >&2; exit 1; }; } \
    && scripts/container-rootfs.sh /build/server/memoscope /rootfs "$RUN_UID"

# -------------------------------------------------------------- runtime stage
FROM scratch

# Filled in by scripts/container-build.sh from CMakeLists.txt and git.
ARG VERSION=unknown
ARG REVISION=unknown
ARG SOURCE=unknown
ARG LICENSES=NOASSERTION
ARG RUN_UID=10001
LABEL org.opencontainers.image.title="memoscope" \
      org.opencontainers.image.description="What the scope of a memo cache does to a server's memory" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.source="$SOURCE" \
      org.opencontainers.image.licenses="$LICENSES"

COPY --from=build /rootfs/ /

# A fixed numeric id (runAsNonRoot-style checks can verify it without
# reading /etc/passwd).
USER $RUN_UID:$RUN_UID

# Listen on every interface of the container, on 8080. Both are the binary's
# own defaults; they are spelled out so that the HEALTHCHECK below (the same
# binary, the same environment) asks the right port after a
# `-e MEMOSCOPE_PORT=...` (give the port with -e, not with --port, for that).
ENV MEMOSCOPE_BIND=0.0.0.0 \
    MEMOSCOPE_PORT=8080
EXPOSE 8080

# The binary asks itself: GET /healthz on 127.0.0.1:$MEMOSCOPE_PORT, healthy
# on a 200 only (the server answers 503 while it shuts down); the probe gives
# up after 2 s, within the 3 s timeout.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/memoscope", "--probe", "/healthz"]

# The binary is PID 1 (exec form, no shell in between): SIGTERM from
# `docker stop` reaches it directly, and it handles it (stops accepting,
# finishes the requests in flight, exits 0). It starts no child processes, so
# there is nothing for an init to reap.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/memoscope"]
CMD []
