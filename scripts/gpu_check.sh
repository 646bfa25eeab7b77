#!/usr/bin/env bash
# Everything the GPU issues ask to measure on a real GPU, in one run: the GPU test suites
# (bit-for-bit against the CPU path in the adapter's arithmetic mode), the conformance
# fixtures, the benchmark table (LIF at 1M/16M/64M on every GPU path, ALIF/GLIF2/GLIF5 at 16M,
# the CPU path, one billion LIF neurons; LIF on every GPU path and ALIF/GLIF2/GLIF5 again with
# the wide kernel's spike words by subgroupBallot instead of workgroup atomics,
# LIF/ALIF per-step noise and the interactive step again without the noise cache, LIF with
# every GPU path, the interactive step and ALIF/GLIF2/GLIF5 again with one neuron per
# invocation instead of the wide kernel's four; LIF and GLIF5 with every parameter per neuron,
# both kernels),
# the interactive step (at 1M and 1,024 neurons, blocking and polling; again with the dispatch
# table in a uniform buffer instead of immediates; at 1M again pinned to two cores and not),
# the demo, and PyTorch's figures where PyTorch with CUDA is installed.
# Ends with a short table of the headline numbers.
#
#   scripts/gpu_check.sh [OUTDIR]               builds with cargo, then runs
#   GLIFSIM_BIN_DIR=DIR scripts/gpu_check.sh    uses prebuilt binaries instead (no cargo on the
#                                               GPU machine): DIR holds glifsim and the test
#                                               binaries gpu, glif, checkpoint, conformance, as
#                                               scripts/prepare_bin_dir.sh makes them
# GLIFSIM_ADAPTER=NVIDIA picks an adapter by name. Took under 6 minutes on an H200 at 1ba2614
# (before the bench's warm-up and repeats, which add about 1 s per configuration).
# GLIFSIM_CHECK_QUICK=1 runs small sizes only (to try the script on a CPU Vulkan driver).
# GLIFSIM_CHECK_FAST=1 skips the checkpoint suite, the demo and PyTorch (a re-measurement).
# GLIFSIM_CHECK_SKIP="ballot no_cache no_wide per_neuron billion run1e9 pinning traces" skips those A/B and bench
# sections (any of the words), for a re-measurement that must fit a short device lease.
set -u
OUT="${1:-out/gpu-check}"
mkdir -p "$OUT"
export GLIFSIM_REQUIRE_GPU=1 CARGO_MANIFEST_DIR="${CARGO_MANIFEST_DIR:-$PWD}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
BIN="${GLIFSIM_BIN_DIR:-}"
# Binaries packed by `scripts/prepare_bin_dir.sh DIR --xz` are unpacked first.
if [ -n "$BIN" ] && [ -f "$BIN/bins.tar.xz" ]; then
    tar xJf "$BIN/bins.tar.xz" -C "$BIN" || exit 1
fi
L="$OUT/log.txt"
: > "$L"
# The A/B sections' outputs, empty where a section is skipped.
for f in wide_ballot no_wide no_noise_cache no_immediates pinning; do : > "$OUT/$f.txt"; done
# skip SECTION: whether GLIFSIM_CHECK_SKIP names it.
skip() {
    case " ${GLIFSIM_CHECK_SKIP:-} " in
        *" $1 "*) echo "(skipped: $1)" | tee -a "$L"; return 0 ;;
    esac
    return 1
}
sec() { echo; echo "=== $* ($(date +%T))" | tee -a "$L"; }
if [ -z "$BIN" ]; then
    cargo build --release || exit 1
    B=target/release/glifsim
else
    B="$BIN/glifsim"
fi
# Run test suite $1 with libtest arguments $2..., for at most $LIMIT seconds (default 300);
# the whole output in $OUT/$1_suite.txt, the results in the log.
suite() {
    local name=$1; shift
    local limit=${LIMIT:-300}
    if [ -z "$BIN" ]; then
        timeout "$limit" cargo test --release --test "$name" -- "$@"
    else
        timeout "$limit" "$BIN/$name" "$@"
    fi > "$OUT/${name}_suite.txt" 2>&1
    local rc=$?
    grep -E "^test |test result|panicked|^conformance|fuses" "$OUT/${name}_suite.txt" | tee -a "$L"
    if [ "$rc" = 124 ]; then
        echo "($name: stopped after $limit s; the end of its output:)" | tee -a "$L"
        tail -5 "$OUT/${name}_suite.txt" | tee -a "$L"
    fi
    return 0
}
# The GPU's clocks and power every 200 ms while the script runs, where nvidia-smi exists.
if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,utilization.gpu \
        --format=csv -lms 200 > "$OUT/clocks.csv" 2>&1 &
    SMI=$!
    trap 'kill $SMI 2> /dev/null' EXIT
fi
sec tests
suite gpu --test-threads=4
suite glif --test-threads=2
suite conformance
if [ -z "${GLIFSIM_CHECK_FAST:-}" ]; then
    # One test at a time, so that a test that does not finish is named in the log (the two
    # GPU tests did not finish within 300 s on an H200 at commit 054cacd), with glifsim's
    # trace log (every wait for the GPU) in checkpoint_suite.txt.
    RUST_LOG=glifsim=trace LIMIT=150 suite checkpoint --test-threads=1 --nocapture
fi
SIZES=1000000,16000000,64000000 MID=16000000 BILLION=1000000000 STEPS=500
if [ -n "${GLIFSIM_CHECK_QUICK:-}" ]; then
    SIZES=100000 MID=100000 BILLION= STEPS=50
fi
sec bench LIF
"$B" bench --models LIF --sizes $SIZES --paths cpu,gpu,gpu-noise,gpu-fused,gpu-fused-noise --steps $STEPS --interactive --json "$OUT/bench_lif.json" 2>&1 | tee -a "$L"
# The interactive step's floor: the same at 1,024 neurons, where the kernel takes ~nothing.
"$B" bench --models LIF --sizes 1024 --paths gpu --steps 50 --interactive --interactive-neurons 1024 2>&1 | grep "^interactive" | tee -a "$L"
# Both again with the dispatch table in a uniform buffer instead of immediates (one buffer
# write per step; src/gpu/context.rs `has_immediates`): what the immediates save.
for n in ${SIZES%%,*} 1024; do
    GLIFSIM_NO_IMMEDIATES=1 "$B" bench --models LIF --sizes 1024 --paths gpu --steps 50 --interactive --interactive-neurons $n 2>&1 | grep "^interactive"
done > "$OUT/no_immediates.txt"
# The interactive step pinned to the last two cores (taskset; the whole process, the driver's
# threads too) against unpinned, three alternating rounds: whether its spread between processes
# (±30 % on the H200 at 591f7ae) is where the host thread runs. (On lavapipe, whose workers
# then share two cores, pinned is slower.)
if ! skip pinning && command -v taskset > /dev/null && [ "$(nproc)" -ge 4 ]; then
    CORES="$(( $(nproc) - 2 )),$(( $(nproc) - 1 ))"
    for round in 1 2 3; do
        for pin in "" "taskset -c $CORES"; do
            r=$($pin "$B" bench --models LIF --sizes 1024 --paths gpu --steps 50 --interactive --interactive-neurons ${SIZES%%,*} 2>&1 | grep "^interactive" | sed "s/.*neurons: //")
            echo "${pin:-unpinned}, round $round: ${r:-(failed)}"
        done
    done > "$OUT/pinning.txt"
fi
sec bench ALIF GLIF2 GLIF5
"$B" bench --models ALIF,GLIF2,GLIF5 --sizes $MID --paths gpu,gpu-fused,gpu-fused-noise --steps $STEPS --json "$OUT/bench_adapt.json" 2>&1 | tee -a "$L"
# Every parameter per neuron (as in a population of fitted neurons): LIF reads 6 arrays,
# GLIF5 22, which the wide kernel loads as one vec4 per four neurons; the CPU path at 1M for
# comparison.
sec bench per-neuron parameters
if ! skip per_neuron; then
    "$B" bench --per-neuron --models LIF,GLIF5 --sizes $MID --paths gpu,gpu-fused,gpu-fused-noise --steps $STEPS --json "$OUT/bench_per_neuron.json" 2>&1 | tee -a "$L"
    "$B" bench --per-neuron --models LIF,GLIF5 --sizes ${SIZES%%,*} --paths cpu,cpu-fused --steps $STEPS --json "$OUT/bench_per_neuron_cpu.json" 2>&1 | tee -a "$L"
fi
# The wide kernel's spike words by subgroupBallot (GLIFSIM_WIDE_BALLOT=1) instead of workgroup
# atomics, the GPU default since the H200 run at 8c8cf67 found the atomics 1.08-1.19x faster
# for LIF (src/gpu/context.rs `wide_ballot`): LIF on every GPU path with the interactive step,
# and the adaptive models. Kept out of the main log so that the summary's rows stay the default
# build's. (Loop bounding, the A/B that stood here, cost up to 30 % at aeb21e5 and stays off;
# GLIFSIM_FORCE_LOOP_BOUNDING=1 still turns it on.)
sec bench with the ballot entry point
if ! skip ballot; then
    GLIFSIM_WIDE_BALLOT=1 "$B" bench --models LIF --sizes $SIZES --paths gpu,gpu-noise,gpu-fused,gpu-fused-noise --steps $STEPS --interactive --json "$OUT/bench_wide_ballot.json" > "$OUT/wide_ballot.txt" 2>&1
    GLIFSIM_WIDE_BALLOT=1 "$B" bench --models ALIF,GLIF2,GLIF5 --sizes $MID --paths gpu,gpu-fused,gpu-fused-noise --steps $STEPS --json "$OUT/bench_wide_ballot_adapt.json" >> "$OUT/wide_ballot.txt" 2>&1
fi
# The noise cache off (GLIFSIM_NO_NOISE_CACHE=1): one dispatch per step with noise, and the
# interactive step, draw every Philox block four times as before.
sec bench without the noise cache
NC_SIZES=${SIZES%%,*}
[ "$NC_SIZES" = "$MID" ] || NC_SIZES=$NC_SIZES,$MID
skip no_cache ||
    GLIFSIM_NO_NOISE_CACHE=1 "$B" bench --models LIF,ALIF --sizes $NC_SIZES --paths gpu-noise --steps $STEPS --interactive --json "$OUT/bench_no_noise_cache.json" > "$OUT/no_noise_cache.txt" 2>&1
# The lane kernel (one neuron per invocation, 4-byte accesses) where the wide one (four per
# invocation, 16-byte accesses; shaders/wide.wgsl) is the default: LIF on every GPU path, the
# interactive step, and ALIF, GLIF2 and GLIF5 (one θ component; GLIF5 two currents and θ_v) at
# 16M.
sec bench without the wide kernel
if ! skip no_wide; then
    GLIFSIM_NO_WIDE=1 "$B" bench --models LIF --sizes $SIZES --paths gpu,gpu-noise,gpu-fused,gpu-fused-noise --steps $STEPS --interactive --json "$OUT/bench_no_wide.json" > "$OUT/no_wide.txt" 2>&1
    GLIFSIM_NO_WIDE=1 "$B" bench --models ALIF,GLIF2,GLIF5 --sizes $MID --paths gpu,gpu-fused,gpu-fused-noise --steps $STEPS --json "$OUT/bench_no_wide_adapt.json" >> "$OUT/no_wide.txt" 2>&1
    GLIFSIM_NO_WIDE=1 "$B" bench --per-neuron --models LIF,GLIF5 --sizes $MID --paths gpu,gpu-fused,gpu-fused-noise --steps $STEPS --json "$OUT/bench_no_wide_per_neuron.json" >> "$OUT/no_wide.txt" 2>&1
fi
if [ -n "$BILLION" ] && ! skip billion; then
    sec bench 1e9
    "$B" bench --models LIF --sizes $BILLION --paths gpu-fused-noise --steps 100 --json "$OUT/bench_1e9.json" 2>&1 | tee -a "$L"
fi
# `glifsim run` of one billion LIF neurons with noise (no spikes file, no interval statistics),
# 20 steps with a checkpoint (8 GB, read from the device 16 MB at a time) every 10: its dry
# run's memory estimate, the run's own line, its wall time and the host's peak resident memory.
if [ -n "$BILLION" ] && ! skip run1e9; then
    sec run 1e9
    printf "dt = 0.1\nduration = 2.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = $BILLION\n[population.input]\nbias = 12.0\nnoise = { mean = 0.0, std = 30.0 }\n[population.record]\nspikes = \"none\"\ncv_isi = false\n" > "$OUT/run_1e9.toml"
    "$B" run "$OUT/run_1e9.toml" --dry-run 2>&1 | grep -E "^  p |^total" | sed "s/^ */run 1e9 dry run: /" | tee -a "$L"
    TIME=()
    [ -x /usr/bin/time ] && TIME=(/usr/bin/time -f "%e s wall, peak resident %M kB")
    "${TIME[@]}" "$B" run "$OUT/run_1e9.toml" --out "$OUT/run_1e9" --checkpoint-every 10 --no-plot 2>&1 |
        grep -E "neuron-updates|peak resident|^error" | grep -v XDG_RUNTIME_DIR |
        sed "s/^ */run 1e9: /" | tee -a "$L"
    rm -rf "$OUT/run_1e9"
fi
# `glifsim run` of 1M LIF neurons with noise for 1,000 steps: no traces, V of three neurons
# every step sampled on the device (the default), and the same cut at every sample
# (GLIFSIM_HOST_SAMPLES=1, two host round trips per step).
sec traces
if ! skip traces; then
    base="dt = 0.1\nduration = 100.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 1000000\n[population.input]\nbias = 12.0\nnoise = { mean = 0.0, std = 30.0 }\n[population.record]\nspikes = \"none\"\n"
    printf "$base" > "$OUT/traces_none.toml"
    printf "${base}v = [0, 500000, 999999]\n" > "$OUT/traces_every1.toml"
    for t in none every1; do
        "$B" run "$OUT/traces_$t.toml" --out "$OUT/traces_$t" 2>&1 | grep -E "steps in" | sed "s/^/traces $t: /" | tee -a "$L"
    done
    GLIFSIM_HOST_SAMPLES=1 "$B" run "$OUT/traces_every1.toml" --out "$OUT/traces_host" 2>&1 | grep -E "steps in" | sed "s/^/traces every1 host samples: /" | tee -a "$L"
    cmp "$OUT/traces_every1/p_v.npy" "$OUT/traces_host/p_v.npy" && echo "traces: device and host samples identical" | tee -a "$L"
fi
if [ -z "${GLIFSIM_CHECK_FAST:-}" ]; then
    sec demo
    "$B" demo --out "$OUT/demo" 2>&1 | tail -3 | tee -a "$L"
fi
if [ -z "${GLIFSIM_CHECK_FAST:-}" ]; then
    sec pytorch
    timeout 150 python3 scripts/pytorch_lif_bench.py 2>&1 | tee -a "$L" || echo "(PyTorch with CUDA not available)" | tee -a "$L"
fi
sec summary
# The summary's columns of the bench rows in file $1 (model, path, kernel, neurons, wall and
# GPU updates/s, GPU µs/step, fraction of copy, per-neuron parameters).
rows() {
    grep -E "^(LIF|ALIF|GLIF2|GLIF5) +(cpu|gpu)" "$1" 2> /dev/null |
        awk '{ printf "%-6s %-16s %-6s %-11s %-11s %-11s %-12s %-8s %s\n", $1, $2, $3, $4, $7, $8, $10, $14, $5 }'
}
# Wide kernel ÷ lane kernel (GPU updates/s, else wall) for each configuration both ran: above 1
# the wide default stands; below it, flip it (`GpuSim::with_drive`, one line).
wide_over_lane() {
    awk 'function upd(r, w) { return r == "-" ? w : r }
         NR == FNR { lane[$1 " " $2 " " $4 " " $9] = upd($6, $5); next }
         $3 == "wide" && (($1 " " $2 " " $4 " " $9) in lane) {
             printf "%-6s %-16s %-11s %-3s %.2f\n", $1, $2, $4, $9, upd($6, $5) / lane[$1 " " $2 " " $4 " " $9]
         }' <(rows "$OUT/no_wide.txt") <(rows "$L")
}
{
    grep -E "^adapter:|copy bandwidth|^reference kernel|^interactive|^conformance \(GPU, " "$L" | sort -u
    grep -E "^traces|^run 1e9" "$L"
    echo "model  path             kernel neurons     upd/s wall  upd/s GPU   GPU µs/step  of copy  per-neuron params (GPU time)"
    rows "$L"
    echo "with GLIFSIM_WIDE_BALLOT=1:"
    rows "$OUT/wide_ballot.txt"
    grep "^interactive" "$OUT/wide_ballot.txt"
    echo "with GLIFSIM_NO_WIDE=1:"
    rows "$OUT/no_wide.txt"
    grep "^interactive" "$OUT/no_wide.txt"
    echo "wide kernel ÷ lane kernel, updates/s (model, path, neurons, per-neuron params, ratio):"
    wide_over_lane
    echo "with GLIFSIM_NO_IMMEDIATES=1:"
    cat "$OUT/no_immediates.txt"
    echo "interactive step pinned to two cores (taskset) or not:"
    cat "$OUT/pinning.txt"
    echo "with GLIFSIM_NO_NOISE_CACHE=1:"
    rows "$OUT/no_noise_cache.txt"
    grep "^interactive" "$OUT/no_noise_cache.txt"
    grep "test result" "$L" | awk '{ p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }'
} | tee "$OUT/summary.txt"
