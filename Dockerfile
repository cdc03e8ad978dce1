# Prism server image. Build: docker build -t prism .
# Run:   docker run -p 8000:8000 -v prism-data:/data prism
FROM rust:1.95-bookworm AS builder
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
# The built-in auth plugins first: the server binary embeds them.
RUN scripts/build-plugins.sh && cargo build --release --locked --bin prism

FROM debian:bookworm-slim AS runtime
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin prism \
    && mkdir -p /data /plugins && chown prism:prism /data
COPY --from=builder /src/target/release/prism /usr/local/bin/prism
USER prism
VOLUME /data
EXPOSE 8000
# Same variables as Chroma's image.
ENV PERSIST_DIRECTORY=/data \
    PRISM_PLUGIN_DIR=/plugins \
    CHROMA_SERVER_HOST=0.0.0.0 \
    CHROMA_SERVER_HTTP_PORT=8000
ENTRYPOINT ["prism"]
CMD ["run"]
