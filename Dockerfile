# syntax=docker/dockerfile:1
# The strata image: one binary, every role (chosen with --roles / STRATA_ROLES).
#
#   docker build -t strata .
#   docker buildx build --platform linux/amd64,linux/arm64 -t strata .
#
# The build stage runs on the builder's own platform and cross-compiles for the target (no
# emulation): Debian's aarch64 gcc links the arm64 binary and builds the C parts (zstd, aws-lc).

ARG RUST_VERSION=1.95

FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-bookworm AS build
ARG TARGETARCH
RUN set -eux; \
    case "$TARGETARCH" in \
      amd64) echo x86_64-unknown-linux-gnu > /rust-target ;; \
      arm64) echo aarch64-unknown-linux-gnu > /rust-target ;; \
      *) echo "unsupported architecture $TARGETARCH" >&2; exit 1 ;; \
    esac; \
    if [ "$(dpkg --print-architecture)" != "$TARGETARCH" ]; then \
      apt-get update; \
      apt-get install -y --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    rustup target add "$(cat /rust-target)"
ENV CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
    CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=symbols
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    set -eux; \
    target="$(cat /rust-target)"; \
    cargo build --release --locked -p strata-server --bin strata --target "$target"; \
    cp "target/$target/release/strata" /strata; \
    mkdir -p /data-dir

# glibc, libgcc, CA certificates and a non-root user (65532), nothing else: no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /strata /usr/local/bin/strata
COPY --from=build --chown=65532:65532 /data-dir /var/lib/strata
USER 65532:65532
# It listens beyond loopback, so `serve` needs --auth-bootstrap-token-file (or
# STRATA_AUTH_BOOTSTRAP_TOKEN_FILE), or STRATA_ALLOW_ANONYMOUS=true to serve anyone.
ENV STRATA_DATA_DIR=/var/lib/strata \
    STRATA_LISTEN=0.0.0.0:8080 \
    STRATA_LOG_FORMAT=json
VOLUME /var/lib/strata
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=4s --start-period=10s --retries=5 \
    CMD ["strata", "cluster", "health", "--url", "http://127.0.0.1:8080", "--timeout", "3s"]
ENTRYPOINT ["strata"]
CMD ["serve"]
