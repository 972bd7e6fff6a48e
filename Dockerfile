# memoscope as a container.
#
#   docker build -t memoscope .
#   docker run --rm -p 8080:8080 memoscope
#   docker run --rm -p 8080:8080 -e MEMOSCOPE_CACHE_SCOPE=global -e MEMOSCOPE_MAXSIZE=none memoscope
#
# Two stages: the first has the compiler and the -dev packages and builds a
# stripped Release binary; the second holds only that binary and the two shared
# libraries it links (and what Debian makes them depend on). Every setting is a
# MEMOSCOPE_* environment variable (the binary reads them itself), or a flag
# after the image name. scripts/container-smoke.sh proves all of this in CI.

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

RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DMEMOSCOPE_TESTS=OFF \
    && cmake --build /build --target memoscope -j "$(nproc)" \
    && strip --strip-unneeded /build/server/memoscope \
    && /build/server/memoscope --version

# -------------------------------------------------------------- runtime stage
FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="memoscope" \
      org.opencontainers.image.description="What the scope of a memo cache does to a server's memory" \
      org.opencontainers.image.version="1.0.0"

# The runtime libraries only (no -dev, no compiler), and an unprivileged user
# with a fixed numeric id (so that runAsNonRoot-style checks can verify it).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        libmicrohttpd12 libcjson1 libhiredis0.14 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && useradd --uid 10001 --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin memoscope

COPY --from=build /build/server/memoscope /usr/local/bin/memoscope

USER 10001:10001

# Listen on every interface of the container, on 8080. Both are the binary's
# own defaults; they are spelled out so that the HEALTHCHECK below follows a
# `-e MEMOSCOPE_PORT=...` (give the port with -e, not with --port, for that).
ENV MEMOSCOPE_BIND=0.0.0.0 \
    MEMOSCOPE_PORT=8080
EXPOSE 8080

# The image has no curl or wget: bash (in every Debian image) opens the TCP
# connection itself, sends one GET /healthz and passes only on a 200 status
# line (the server answers 503 while it shuts down).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/\"$MEMOSCOPE_PORT\" && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r status <&3 && [[ $status == HTTP/1.[01]' 200'* ]]"]

# The binary is PID 1 (exec form, no shell in between): SIGTERM from
# `docker stop` reaches it directly, and it handles it (stops accepting,
# finishes the requests in flight, exits 0). It starts no child processes, so
# there is nothing for an init to reap.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/memoscope"]
CMD []
