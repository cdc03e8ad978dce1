# Prism server image. Build: docker build -t prism .
# Run:   docker run -p 8000:8000 -v prism-data:/data prism
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin prism

FROM debian:bookworm-slim AS runtime
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin prism \
    && mkdir -p /data && chown prism:prism /data
COPY --from=builder /src/target/release/prism /usr/local/bin/prism
USER prism
VOLUME /data
EXPOSE 8000
# Same variables as Chroma's image.
ENV PERSIST_DIRECTORY=/data \
    CHROMA_SERVER_HOST=0.0.0.0 \
    CHROMA_SERVER_HTTP_PORT=8000
ENTRYPOINT ["prism"]
CMD ["run"]
