#!/usr/bin/env bash
# Time variants of the wide step kernel against the built-in one on a real GPU, in one run, and
# check the exact ones bit for bit: what scripts/kernel_variants.py writes, loaded at run time
# through GLIFSIM_SHADER_DIR, so that the GPU machine needs no Rust toolchain.
#
#   scripts/variants_check.sh OUTDIR
#
# Needs GLIFSIM_BIN_DIR (glifsim and the gpu and glif test binaries, or bins.tar.xz, as
# scripts/prepare_bin_dir.sh makes them) and GLIFSIM_VARIANTS (the directory of variants; made
# here with python3 when unset). GLIFSIM_ADAPTER=NVIDIA picks the adapter. EXACT="a b" runs
# the GPU suites with those exact variants first; LIF_VARIANTS, NOISE_VARIANTS, ADAPT_VARIANTS
# and DRIFT_VARIANTS replace what each section times besides the built-in kernel (LIF with
# streamed input, LIF with noise, ALIF/GLIF2/GLIF5, LIF again; "-" for none); SECTIONS
# (default "lif noise adapt drift") picks the sections, ADAPT_MODELS and ADAPT_PATHS what the
# adapt section runs (default ALIF,GLIF2,GLIF5 and gpu,gpu-fused,gpu-fused-noise). Prints a table of each variant's
# GPU updates/s divided by the built-in kernel's, the built-in kernel timed before and after
# the variants so that drift shows. Took 3.5 minutes on an H200 (commit 8c8cf67's plan).
# GLIFSIM_CHECK_QUICK=1: small sizes (to try the script on a CPU Vulkan driver).
set -u
OUT="${1:-out/variants}"
mkdir -p "$OUT"
export GLIFSIM_REQUIRE_GPU=1 CARGO_MANIFEST_DIR="${CARGO_MANIFEST_DIR:-$PWD}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
BIN="${GLIFSIM_BIN_DIR:?set GLIFSIM_BIN_DIR}"
if [ -f "$BIN/bins.tar.xz" ] && [ ! -x "$BIN/glifsim" ]; then
    tar xJf "$BIN/bins.tar.xz" -C "$BIN" || exit 1
fi
VAR="${GLIFSIM_VARIANTS:-}"
if [ -z "$VAR" ]; then
    VAR="$OUT/kernels"
    python3 scripts/kernel_variants.py "$VAR" > /dev/null || exit 1
fi
B="$BIN/glifsim"
L="$OUT/log.txt"
: > "$L"
SMALL=1000000 MID=16000000 STEPS=500 MT=0.3
if [ -n "${GLIFSIM_CHECK_QUICK:-}" ]; then
    SMALL=50000 MID=100000 STEPS=50 MT=0
fi
if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu \
        --format=csv -lms 200 > "$OUT/clocks.csv" 2>&1 &
    SMI=$!
    trap 'kill $SMI 2> /dev/null' EXIT
fi
# bench VARIANT TAG ARGS...: one glifsim bench with VARIANT's kernel files ("base": the
# built-in ones; "wide_ballot": the built-in ones with GLIFSIM_WIDE_BALLOT=1, the wide
# kernel's spike words by subgroupBallot instead of workgroup atomics); its rows go to the log
# prefixed with the variant and TAG. GLIFSIM_WIDE_BALLOT set outside (=0: the atomics on a CPU
# driver, to time variants of that entry point on lavapipe) holds for every variant but
# wide_ballot.
bench() {
    local v=$1 tag=$2; shift 2
    local dir= wb=${GLIFSIM_WIDE_BALLOT:-}
    case "$v" in
        base) ;;
        wide_ballot) wb=1 ;;
        *) dir="$VAR/$v" ;;
    esac
    echo "--- $v $tag: $* ($(date +%T))" >> "$L"
    GLIFSIM_WIDE_BALLOT=$wb GLIFSIM_SHADER_DIR=$dir "$B" bench --steps $STEPS --min-time $MT "$@" 2>&1 |
        tee -a "$OUT/bench_raw.txt" | grep -E "^(LIF|ALIF|GLIF2|GLIF5) +gpu|copy bandwidth" |
        sed "s/^/$v $tag /" >> "$L"
}
# Exact variants named in EXACT (none by default), bit for bit against the CPU path on this
# GPU: the tests of the wide kernel (every model, noise, the noise cache, the on-device drive)
# and the GLIF suite.
for v in ${EXACT:-}; do
    echo "=== exactness: $v ($(date +%T))" | tee -a "$L"
    GLIFSIM_SHADER_DIR="$VAR/$v" timeout 120 "$BIN/gpu" --test-threads=4 wide noise_cache on_device_drive \
        > "$OUT/gpu_$v.txt" 2>&1
    GLIFSIM_SHADER_DIR="$VAR/$v" timeout 60 "$BIN/glif" --test-threads=4 > "$OUT/glif_$v.txt" 2>&1
    grep -hE "test result|FAILED|panicked" "$OUT/gpu_$v.txt" "$OUT/glif_$v.txt" | sed "s/^/$v: /" | tee -a "$L"
done
echo "=== timing ($(date +%T))" | tee -a "$L"
# "-" in a list: nothing besides the built-in kernel.
only() { [ "$1" = "-" ] || echo "$1"; }
# section NAME: whether SECTIONS names it.
section() { case " ${SECTIONS:-lif noise adapt drift} " in *" $1 "*) return 0 ;; esac; return 1; }
# LIF per step and fused with streamed input: the word assembly (ballot or atomics) and the
# parts of the step's memory traffic.
section lif && for v in base $(only "${LIF_VARIANTS:-wide_ballot x_no_refr_read x_no_spike_words x_no_refr_words x_state_only}"); do
    bench "$v" lif --models LIF --sizes $SMALL,$MID --paths gpu,gpu-fused
done
# The noisy paths: Philox's rounds and the quantile table.
section noise && for v in base $(only "${NOISE_VARIANTS:-wide_ballot x_cheap_philox x_no_table}"); do
    bench "$v" noise --models LIF --sizes $SMALL,$MID --paths gpu-noise,gpu-fused-noise
done
# The adaptive models.
section adapt && for v in base $(only "${ADAPT_VARIANTS:-wide_ballot}"); do
    bench "$v" adapt --models ${ADAPT_MODELS:-ALIF,GLIF2,GLIF5} --sizes $MID --paths ${ADAPT_PATHS:-gpu,gpu-fused,gpu-fused-noise}
done
# Again, for drift.
section drift && for v in base $(only "${DRIFT_VARIANTS:-wide_ballot}"); do
    bench "$v" lif2 --models LIF --sizes $SMALL,$MID --paths gpu,gpu-fused
done
echo "=== done ($(date +%T))" | tee -a "$L"
# The table: GPU updates/s (column 8 of a bench row, else wall updates/s) of each variant's
# row divided by the built-in kernel's row of the same tag and configuration (first run).
awk '$1 ~ /^[a-z_0-9]+$/ && $3 ~ /^(LIF|ALIF|GLIF2|GLIF5)$/ {
        key = $2 " " $3 " " $4 " " $6 " " $7; sub(/lif2/, "lif", key)
        u = ($10 == "-") ? $9 : $10
        if ($1 == "base" && !(key in base)) base[key] = u
        rows[++n] = $1 "|" key "|" u "|" $16
     }
     END {
        printf "%-17s %-8s %-6s %-16s %-9s %-3s %-10s %-7s %s\n", "variant", "tag", "model", "path", "neurons", "pn", "GPU upd/s", "of copy", "÷ base"
        for (i = 1; i <= n; i++) {
            split(rows[i], r, "|"); split(r[2], k, " ")
            ratio = (r[2] in base) ? sprintf("%.3f", r[3] / base[r[2]]) : "-"
            printf "%-17s %-8s %-6s %-16s %-9s %-3s %-10s %-7s %s\n", r[1], k[1], k[2], k[3], k[4], k[5], r[3], r[4], ratio
        }
     }' "$L" | tee "$OUT/summary.txt"
grep -E "copy bandwidth" "$L" | cut -d" " -f1,2,6-8 >> "$OUT/summary.txt"
# The exact variants' test results (EXACT), so that the table's rows come with their checks.
grep -E "^[a-z_0-9]+: " "$L" | grep -E "test result|FAILED|panicked" | tee -a "$OUT/summary.txt"
