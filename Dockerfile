# strace-api as a sidecar image: a build stage, then a FROM-scratch runtime
# stage holding only the binary (the eBPF object is embedded in it) and the
# shared libraries it links.
#
#   docker build -t strace-api .
#   docker run --pid=container:APP --cap-drop=ALL --cap-add=BPF --cap-add=PERFMON \
#     --security-opt seccomp=deploy/seccomp.json -e STRACE_API_TOKEN=… -p 127.0.0.1:8080:8080 strace-api
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The toolchain pinned in rust-toolchain.toml; the xtask builds bpf-linker
# against its LLVM, then the daemon.
RUN rustup toolchain install \
 && cargo xtask build --release \
 && deploy/rootfs.sh /rootfs target/release/strace-api

FROM scratch
COPY --from=build /rootfs/ /
# Reachable from outside the container, so a token is required
# (STRACE_API_TOKEN or STRACE_API_TOKEN_FILE); the daemon refuses to start
# without one. The flight recorder is on: every process of the shared PID
# namespace is recorded from its first syscall.
ENV STRACE_API_LISTEN=0.0.0.0:8080 \
    STRACE_API_WATCH_ALL=true
EXPOSE 8080
ENTRYPOINT ["/strace-api"]
