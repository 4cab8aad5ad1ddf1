# EdgeLog: multi-stage build. The runtime image holds the release binary and the shared libraries it
# needs (libsystemd0, zlib1g, libdeflate0) and ca-certificates for TLS, nothing else.
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsystemd-dev zlib1g-dev libdeflate-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
# A non-debug build: the production checklist forbids debug images.
RUN swift build -c release --product edgelog --static-swift-stdlib \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/edgelog" /out/edgelog \
 && strip /out/edgelog

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsystemd0 zlib1g libdeflate0 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/edgelog /usr/local/bin/edgelog
# State (checkpoints, spool) belongs on a host folder mounted here; see deployment.template.json.
VOLUME ["/var/lib/edgelog"]
# /healthz where the running process serves it (see README, "Metrics and health"); with metrics disabled,
# whether the state directory can be read.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/edgelog", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/edgelog"]
CMD ["run"]
