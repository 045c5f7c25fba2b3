# strace-api as a container image: build stage, then a small runtime stage
# with only the binary (the eBPF object is embedded in it).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The toolchain pinned in rust-toolchain.toml, then the xtask builds bpf-linker
# against that toolchain's LLVM and builds the daemon.
RUN rustup toolchain install && cargo xtask build --release

FROM debian:bookworm-slim
COPY --from=build /src/target/release/strace-api /usr/local/bin/strace-api
ENV STRACE_API_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/strace-api"]
