# syntax=docker/dockerfile:1
#
# authkit-server in a container: a Rust builder stage, then a slim Debian runtime running as an
# unprivileged user. SQLite by default (the database lives in the /var/lib/authkit volume); set
# AUTHKIT_DATABASE_URL=postgres://... for PostgreSQL (see deploy/docker-compose.yml).
#
#   docker build -t authkit-server .
#   docker run -p 8080:8080 -v authkit-data:/var/lib/authkit authkit-server
#
# The build needs BuildKit (the default builder of current Docker) for its cache mounts: the
# crates.io registry and the target directory are kept between builds, so a source change only
# recompiles the workspace's own crates.

# The toolchain the workspace is tested with (rust-version in Cargo.toml).
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p authkit-server \
    && install -D -m 0755 target/release/authkit-server /out/authkit-server

FROM debian:bookworm-slim AS runtime
# No package is needed at run time: TLS (SMTP) uses rustls with built-in roots, SQLite is
# compiled in, and the health check below speaks HTTP with bash alone (no curl in the image).
# A fixed, unprivileged uid/gid, so that volume ownership and runAsNonRoot policies can name it.
RUN groupadd --system --gid 10001 authkit \
    && useradd --system --uid 10001 --gid authkit --home-dir /var/lib/authkit \
        --no-create-home --shell /usr/sbin/nologin authkit \
    && install -d -o authkit -g authkit -m 0750 /var/lib/authkit
COPY --from=builder /out/authkit-server /usr/local/bin/authkit-server

ENV AUTHKIT_BIND=0.0.0.0:8080 \
    AUTHKIT_DATABASE_URL=sqlite:///var/lib/authkit/authkit.db \
    AUTHKIT_LOG_FORMAT=json
WORKDIR /var/lib/authkit
VOLUME ["/var/lib/authkit"]
USER 10001:10001
EXPOSE 8080
# authkit-server finishes in-flight requests and the email being sent on SIGTERM (10 s grace):
# give it more than that before SIGKILL (docker stop -t 15, terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
# GET /health over bash's /dev/tcp: healthy when the status line says 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/authkit-server"]
CMD ["serve"]
