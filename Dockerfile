# basin-server and the basin CLI on Debian 12 (bookworm).
#
# There is no registry: the base image localhost/debian:bookworm is made locally with debootstrap
# and this file is built with chroot isolation. deploy/container/build does both; by hand:
#   buildah bud --isolation chroot --layers --format docker -t localhost/basin:dev .
# (--format docker keeps the HEALTHCHECK, which the OCI image format cannot carry.)
# Run (podman needs runc and lowered ulimits on this kind of host, see docs/deploy.md):
#   podman --runtime runc run -d --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
#     -p 127.0.0.1:50051:50051 -p 127.0.0.1:9464:9464 -v basin-data:/var/lib/basin localhost/basin:dev

FROM localhost/debian:bookworm AS build

# Compiler and -dev packages only; the steps are ordered so that this layer is cached until the
# package list changes.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config ccache \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto \
      libabsl-dev libeigen3-dev prometheus-cpp-dev libhwy-dev \
 && rm -rf /var/lib/apt/lists/*

# .dockerignore keeps the context to the sources these two targets need.
COPY . /src
# Only the two shipped binaries; no tests or benchmarks (they would need GoogleTest/benchmark).
# ccache lives in a build cache mount (kept by buildah and BuildKit between builds, never part of
# the image): after a source change only the changed translation units are compiled again.
RUN --mount=type=cache,id=basin-ccache,target=/ccache \
    export CCACHE_DIR=/ccache CCACHE_MAXSIZE=1G \
 && ccache --zero-stats \
 && cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DBASIN_BUILD_TESTS=OFF -DBASIN_BUILD_BENCHMARKS=OFF \
 && cmake --build /build --target basin-server basin \
 && ccache --show-stats \
 && strip --strip-unneeded /build/server/basin-server /build/client/cpp/cli/basin


FROM localhost/debian:bookworm

# The shared libraries the binaries link (ldd + dpkg -S on them); the check below fails the build
# if one is missing, e.g. after a new dependency.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libre2-9 libc-ares2 libssl3 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libhwy1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 basin \
 && useradd --uid 10001 --gid basin --no-log-init --no-create-home --home-dir /var/lib/basin \
      --shell /usr/sbin/nologin basin \
 && install -d -o basin -g basin -m 0750 /var/lib/basin

COPY --from=build /build/server/basin-server /build/client/cpp/cli/basin /usr/local/bin/
RUN if ldd /usr/local/bin/basin-server /usr/local/bin/basin | grep -F 'not found'; then \
      echo 'runtime stage: a shared library above is missing from the apt-get install list' >&2; \
      exit 1; \
    fi

# The server's data directory is ./basin-data (snapshots and logs, docs/persistence.md): mount a
# volume at /var/lib/basin so sessions outlive the container.
WORKDIR /var/lib/basin
USER 10001:10001

# 50051: gRPC (basin.v1.Optimizer, grpc.health.v1.Health, reflection). 9464: Prometheus /metrics.
EXPOSE 50051 9464

# Exit 0 only when the health service answers SERVING (NOT_SERVING while draining). The probe
# assumes the default port; change it too when --listen moves the server.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/basin", "--target=127.0.0.1:50051", "--timeout=3s", "health"]

# Exec form: basin-server is PID 1 and gets SIGTERM itself; it reports NOT_SERVING, lets running
# ticks finish for up to --drain_grace (default 20s) and exits 0. Give `podman stop`/`docker stop`
# a longer timeout than that (the Kubernetes manifests use 30s for a 20s drain).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/basin-server"]
CMD ["--listen=0.0.0.0:50051", "--metrics_listen=0.0.0.0:9464"]

# Last, so that a new revision never invalidates a cached layer above.
ARG BASIN_VERSION=unknown
ARG BASIN_REVISION=unknown
LABEL org.opencontainers.image.title="basin" \
      org.opencontainers.image.description="basin-server: Entropy-SGD, Entropy-MCMC, SGD, SGLD and SAM as a gRPC service" \
      org.opencontainers.image.version="${BASIN_VERSION}" \
      org.opencontainers.image.revision="${BASIN_REVISION}" \
      org.opencontainers.image.base.name="localhost/debian:bookworm"
