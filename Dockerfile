# EdgeLog: multi-stage build. The runtime image holds the release binary (Swift standard library linked in
# statically, stripped) and the shared libraries it loads, nothing else: libsystemd0, zlib1g, libdeflate0 and
# libstdc++6 (`ldd /usr/local/bin/edgelog`), and ca-certificates for TLS.
#
#   docker build -t edgelog:0.1.0-amd64 .
#
# The stages: `runtime` (the runtime image without the binary; first, so that `--target runtime` builds it
# alone with either builder), `build` (the release build in SWIFT_IMAGE), and the image itself. A binary built
# elsewhere with `swift build -c release --static-swift-stdlib` goes into the `runtime` stage the same way:
# scripts/image-build.sh --prebuilt. The base images can be made without a registry: scripts/base-images.sh
# (see docs/image.md).
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsystemd0 zlib1g libdeflate0 libstdc++6 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# State (checkpoints, spool) belongs on a host folder mounted here; see deployment.template.json.
VOLUME ["/var/lib/edgelog"]
# /healthz where the running process serves it (see README, "Metrics and health"); with metrics disabled,
# whether the state directory can be read.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/edgelog", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/edgelog"]
CMD ["run"]

FROM ${SWIFT_IMAGE} AS build
# The official swift image lacks the system libraries' headers; an image that has them skips apt.
RUN if ! dpkg -s libsystemd-dev zlib1g-dev libdeflate-dev pkg-config >/dev/null 2>&1; then \
      apt-get update \
      && apt-get install -y --no-install-recommends libsystemd-dev zlib1g-dev libdeflate-dev pkg-config \
      && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
# A non-debug build: the production checklist forbids debug images.
RUN swift build -c release --product edgelog --static-swift-stdlib \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/edgelog" /out/edgelog \
 && strip /out/edgelog

FROM runtime
COPY --from=build /out/edgelog /usr/local/bin/edgelog
RUN ["/usr/local/bin/edgelog", "--version"]
