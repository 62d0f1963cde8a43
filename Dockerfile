# syntax=docker/dockerfile:1
# h2s-dispatch: one image, three processes (api, worker, reconcile); pick one with the
# command. `docker build -t h2s-dispatch .` builds the runtime image (the last stage);
# `--target standin` builds the Stripe stand-in for compose's local try. The binaries are
# built with `--no-default-features`: without the `dev` feature, so without `api --dev` and
# without the stand-in crate (tests/deploy.rs checks it with `cargo tree`).

ARG RUST_VERSION=1.89

# ---- build: release binaries, dependencies in a layer of their own --------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# Dependency-cache layer: the manifests with stub sources, so that a change of the code
# does not rebuild the ~300 dependencies. The stand-in crate is a workspace member: cargo
# reads its manifest even when it builds nothing of it, so it gets a stub too (its real
# sources come in the standin stage only).
COPY Cargo.toml Cargo.lock build.rs ./
COPY crates/stripe-standin/Cargo.toml crates/stripe-standin/
COPY .cargo .cargo
RUN mkdir -p src/bin migrations crates/stripe-standin/src \
 && echo '' > src/lib.rs \
 && echo '' > crates/stripe-standin/src/lib.rs \
 && for b in api worker reconcile; do echo 'fn main() {}' > "src/bin/$b.rs"; done \
 && cargo build --release --locked --no-default-features --bins \
 && rm -rf src
# The real sources (migrations are embedded by `sqlx::migrate!` at compile time).
COPY src src
COPY migrations migrations
# Stub artifacts are older than the real sources; touch makes sure cargo sees the change.
RUN touch src/lib.rs src/bin/*.rs \
 && cargo build --release --locked --no-default-features --bins \
 && mkdir -p /out \
 && cp target/release/api target/release/worker target/release/reconcile /out/

# ---- the Stripe stand-in (local try only, never production) ---------------------------
# The example lives in the root package (it shares the api's secret-file and signal
# handling) and takes the stand-in crate as a dev-dependency, so the library built above is
# reused as it is; the stand-in's real sources replace its stub.
FROM build AS standin-build
COPY crates crates
COPY examples examples
RUN touch crates/stripe-standin/src/lib.rs \
 && cargo build --release --locked --no-default-features --example stripe_standin \
 && cp target/release/examples/stripe_standin /out/

FROM debian:bookworm-slim AS standin
RUN useradd --system --uid 10001 --no-create-home h2s
COPY --from=standin-build /out/stripe_standin /usr/local/bin/stripe_standin
USER 10001
EXPOSE 12111
ENTRYPOINT ["/usr/local/bin/stripe_standin"]

# ---- runtime: small, non-root ----------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# curl for the HEALTHCHECK only; TLS roots are compiled into the binaries (webpki-roots),
# so no ca-certificates are needed. Unpinned on purpose: a rebuild takes Debian's fixes.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home h2s
COPY --from=build /out/api /out/worker /out/reconcile /usr/local/bin/
# For reference and audits; the binaries carry them and apply them at start.
COPY migrations /usr/share/h2s-dispatch/migrations
USER 10001
# Listen on every interface inside the container (the default is loopback only).
ENV BIND=0.0.0.0:8080 \
    LOG_JSON=true
EXPOSE 8080
# The api's liveness; a worker overrides it (see compose.yaml), a reconciler disables it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT []
CMD ["api"]
