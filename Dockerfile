# ChittyCharge as a container: one binary, SQLite on a volume.
#
#   docker build -t chittycharge .
#   docker run -p 8787:8787 -v chittycharge-data:/data \
#     -e STRIPE_SECRET_KEY_FILE=/run/secrets/stripe_secret_key ... chittycharge
#
# It listens on 0.0.0.0, which is not loopback, so `serve` refuses to start
# without STRIPE_SECRET_KEY (or STRIPE_SECRET_KEY_FILE), or an explicit
# CHITTYCHARGE_PROCESSOR=simulated for a demo. The image chooses neither:
# taking bookings on the simulated processor must be a decision, never a
# default. Secrets go in as files (the *_FILE keys), not as ENV here.

# The toolchain the workspace's rust-version names; bookworm, so the binary
# links against the same glibc the runtime stage has.
FROM rust:1.89-bookworm AS builder
WORKDIR /src
# The whole context, .git included: build.rs stamps the commit into
# chittycharge_build_info{git_sha} (it says "unknown" without one).
COPY . .
# --locked: the image is built from exactly the Cargo.lock that was tested.
RUN cargo build --release --locked --bin chittycharge

FROM debian:bookworm-slim
# curl is for HEALTHCHECK only (the binary has no probe command). The binary
# carries its own TLS roots; ca-certificates is for an operator's tools. Both
# are unpinned: Debian replaces versions with its security updates, and a pin
# would break the build on the next one.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 chittycharge \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
         --shell /usr/sbin/nologin chittycharge \
    && mkdir /data \
    && chown 10001:10001 /data
COPY --from=builder /src/target/release/chittycharge /usr/local/bin/chittycharge

# /data belongs to the service user before VOLUME, so a new named volume
# starts out writable by it.
VOLUME /data
WORKDIR /data
ENV DATABASE_URL=sqlite:///data/chittycharge.db \
    CHITTYCHARGE_LISTEN=0.0.0.0:8787 \
    CHITTYCHARGE_METRICS_LISTEN=0.0.0.0:9187 \
    CHITTYCHARGE_LOG_FORMAT=json \
    CHITTYCHARGE_SHUTDOWN_GRACE_MS=8000
# Grace of 8 s: `docker stop` sends SIGKILL after 10 s unless --stop-timeout
# says otherwise, and requests in flight should finish before that. Raise both
# together. Work cut off anyway is settled by the janitor at the next start.
STOPSIGNAL SIGTERM

# 8787 is the API (behind a TLS-terminating proxy; set CHITTYCHARGE_PUBLIC_URL
# and CHITTYCHARGE_TRUSTED_PROXIES). 9187 is /metrics without a token, for a
# scraper on the internal network: publish it to nothing else.
EXPOSE 8787 9187

# Numeric, so an orchestrator can check runAsNonRoot without /etc/passwd.
USER 10001:10001

# /livez, not /readyz: readiness follows Stripe and ChittyID, and an outage
# there must not get a healthy process restarted. The port follows
# CHITTYCHARGE_LISTEN if it is overridden (hence the shell). The start period
# covers migrations.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD ["sh", "-c", "curl -fsS -o /dev/null http://127.0.0.1:${CHITTYCHARGE_LISTEN##*:}/livez || exit 1"]

ENTRYPOINT ["chittycharge"]
CMD ["serve"]
