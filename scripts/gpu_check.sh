#!/usr/bin/env bash
# Everything the GPU issues ask to measure on a real GPU, in one run: the GPU test suites
# (bit-for-bit against the CPU path in the adapter's arithmetic mode), the conformance
# fixtures, the benchmark table (LIF at 1M/16M/64M on every GPU path, ALIF/GLIF2/GLIF5 at 16M,
# one billion LIF neurons), the interactive step, and the demo raster.
#   scripts/gpu_check.sh [OUTDIR]      (GLIFSIM_ADAPTER=NVIDIA to pick an adapter by name)
set -u
OUT="${1:-out/gpu-check}"
mkdir -p "$OUT"
export GLIFSIM_REQUIRE_GPU=1
L="$OUT/log.txt"
sec() { echo; echo "=== $* ($(date +%T))" | tee -a "$L"; }
cargo build --release
sec tests; cargo test --release --test gpu --test glif --test conformance --test cli 2>&1 | grep -E "^test |test result|panicked|^conformance" | tee -a "$L"
B=target/release/glifsim
sec bench LIF; $B bench --models LIF --sizes 1000000,16000000,64000000 --paths gpu,gpu-noise,gpu-fused,gpu-fused-noise --steps 500 --interactive --json "$OUT/bench_lif.json" 2>&1 | tee -a "$L"
sec bench ALIF GLIF2 GLIF5; $B bench --models ALIF,GLIF2,GLIF5 --sizes 16000000 --paths gpu,gpu-fused,gpu-fused-noise --steps 300 --json "$OUT/bench_adapt.json" 2>&1 | tee -a "$L"
sec bench 1e9; $B bench --models LIF --sizes 1000000000 --paths gpu-fused-noise --steps 100 2>&1 | tee -a "$L"
sec demo; $B demo --out "$OUT/demo" 2>&1 | tail -3 | tee -a "$L"
sec pytorch; python3 scripts/pytorch_lif_bench.py 2>&1 | tee -a "$L" || echo "(PyTorch with CUDA not available)" | tee -a "$L"
