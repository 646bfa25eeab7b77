#!/usr/bin/env bash
# Build the release binary and the GPU test binaries here and copy them, stripped, into DIR
# (default .devcarry), for scripts/gpu_check.sh on a GPU machine without a Rust toolchain:
#   scripts/prepare_bin_dir.sh [DIR] [--xz] && GLIFSIM_BIN_DIR=DIR scripts/gpu_check.sh OUT
# With --xz the binaries (about 60 MB) travel as one DIR/bins.tar.xz (about 16 MB), which
# gpu_check.sh unpacks.
set -eu
DIR="${1:-.devcarry}"
XZ="${2:-}"
mkdir -p "$DIR"
cargo build --release
cp target/release/glifsim "$DIR/"
for t in gpu glif checkpoint conformance; do
    exe=$(cargo test --release --test "$t" --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    t = m.get("target", {})
    if m.get("executable") and t.get("name") == sys.argv[1] and "test" in t.get("kind", []):
        print(m["executable"])' "$t")
    cp "$exe" "$DIR/$t"
done
strip "$DIR"/* 2>/dev/null || true
if [ "$XZ" = "--xz" ]; then
    (cd "$DIR" && tar cf - glifsim gpu glif checkpoint conformance | xz -T0 -6 > bins.tar.xz &&
        rm glifsim gpu glif checkpoint conformance)
fi
cp scripts/gpu_check.sh "$DIR/"
ls -la "$DIR"
