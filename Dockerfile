# Prism server image.
#   docker build -t prism .          # compiles host and plugins (official Rust image)
#   docker run -p 8000:8000 -v prism-data:/data prism
# It writes nothing outside its data directory and needs no capability, so it
# runs hardened as it is (scripts/test-image.sh checks this):
#   docker run --read-only --cap-drop=ALL --security-opt=no-new-privileges \
#     -p 8000:8000 -v prism-data:/data prism
# (SQLite's temporary files, for sorts too large for memory, go to the first
# writable of $SQLITE_TMPDIR, $TMPDIR, /var/tmp, /tmp and the working
# directory, /data: with PERSIST_DIRECTORY elsewhere, add --tmpfs /tmp.)
# Same environment variables as Chroma's image (CHROMA_SERVER_AUTHN_PROVIDER,
# ...); custom plugins go in /plugins (mount a directory there).
#
# Target `prebuilt` is the same runtime with a `prism` binary built beforehand
# at target/docker/prism; scripts/test-image.sh uses it where the Rust image
# cannot be pulled.

FROM rust:1.95-bookworm AS builder
# SQLCipher (encryption at rest) links OpenSSL's libcrypto. Not pinned: a
# rebuild should pick up Debian's security fixes to it.
# hadolint ignore=DL3008
RUN rustup target add wasm32-wasip2 \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The built-in auth plugins first: the server binary embeds them.
RUN scripts/build-plugins.sh \
    && CARGO_PROFILE_RELEASE_DEBUG=false cargo build --release --locked --bin prism \
    && mkdir -p target/docker \
    && cp target/release/prism target/docker/prism

FROM debian:bookworm-slim AS base
# libssl3: SQLCipher's libcrypto (encryption at rest); not pinned, so that a
# rebuild picks up Debian's security fixes.
# hadolint ignore=DL3008
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libssl3 \
    && rm -rf /var/lib/apt/lists/*
# /chroma/chroma: Chroma's data path, which its compose files mount.
# /var/cache/prism: compiled plugins, the user's own (nobody else may write
# where native code is loaded from).
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin prism \
    && mkdir -p /data /plugins /chroma/chroma /var/cache/prism \
    && chown prism:prism /data /chroma/chroma /var/cache/prism \
    && chmod 700 /var/cache/prism
# Numeric, so runAsNonRoot policies can check it.
USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 8000
# Compiled plugins are kept in the container's own layer (across restarts
# of the container, not in the data volume or its backups).
ENV PERSIST_DIRECTORY=/data \
    PRISM_PLUGIN_DIR=/plugins \
    PRISM_PLUGIN_CACHE_DIR=/var/cache/prism \
    CHROMA_SERVER_HOST=0.0.0.0 \
    CHROMA_SERVER_HTTP_PORT=8000
# The server's own heartbeat (over HTTPS too, when PRISM_TLS_* are set).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["prism", "healthcheck"]
ENTRYPOINT ["prism"]
CMD ["run"]

FROM base AS prebuilt
COPY target/docker/prism /usr/local/bin/prism

FROM base AS runtime
COPY --from=builder /src/target/docker/prism /usr/local/bin/prism
