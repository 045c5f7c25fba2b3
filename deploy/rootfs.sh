#!/usr/bin/env bash
# Usage: rootfs.sh OUT_DIR BINARY...
# Lays out a minimal root filesystem for a FROM-scratch image: each binary at
# /<name>, plus the shared libraries it links (as ldd lists them, at the
# same paths). Used by the Dockerfile's runtime stage and by the sidecar test.
set -euo pipefail
out=$1
shift
mkdir -p "$out"
for bin in "$@"; do
    install -m 0755 "$bin" "$out/$(basename "$bin")"
    # "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
    ldd "$bin" | grep -oE '/[^ ]+' | while read -r lib; do
        mkdir -p "$out/$(dirname "$lib")"
        cp -L "$lib" "$out/$lib"
    done
done
