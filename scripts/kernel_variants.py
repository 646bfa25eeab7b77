#!/usr/bin/env python3
"""Write variants of the wide step kernel, one directory each, for `GLIFSIM_SHADER_DIR`.

    scripts/kernel_variants.py OUTDIR [NAME ...]

Each variant is the files of shaders/ that it changes, patched from the current sources (a
patch whose text is no longer found fails loudly, so the variants cannot silently drift from
the kernel). `glifsim bench` with `GLIFSIM_SHADER_DIR=OUTDIR/NAME` then times that variant
against the built-in kernel in the same run, on a machine without a Rust toolchain.

Two kinds:
- *exact* variants compute the same bits as the built-in kernel (the GPU test suites run
  with them: `GLIFSIM_SHADER_DIR=... tests/gpu`); candidates for the default.
- *ablations* drop part of the work (wrong results on purpose): timing them against the
  built-in kernel says what that part costs. Never for anything but timing.

Used by scripts/variants_check.sh.
"""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHADERS = ROOT / "shaders"

# (exact, description, [(file, old, new), ...])
VARIANTS = {}


def variant(name, exact, what, patches):
    VARIANTS[name] = (exact, what, patches)


# --- Exact variants ------------------------------------------------------------------------

REORDER = (
    "wide.wgsl",
    """        *st = load_wide(l, refractory_nibble(l.id));
        (*carry).p = wide_params(l.n);
        (*carry).next_host = wide_host_input(l.idx, dispatch.t0);""",
    """        (*carry).next_host = wide_host_input(l.idx, dispatch.t0);
        (*carry).p = wide_params(l.n);
        *st = load_wide(l, refractory_nibble(l.id));""",
)
variant(
    "reorder",
    True,
    "the first step's host input and the parameters are loaded before the state, so that no "
    "load waits behind the branches on the refractory nibble",
    [REORDER],
)

R4 = (
    "wide.wgsl",
    """    st.r = vec4<f32>(0.0);
    let i = 4u * l.idx;
    if (nibble & 1u) != 0u {
        st.r.x = r_buf[i];
    }
    if (nibble & 2u) != 0u {
        st.r.y = r_buf[i + 1u];
    }
    if (nibble & 4u) != 0u {
        st.r.z = r_buf[i + 2u];
    }
    if (nibble & 8u) != 0u {
        st.r.w = r_buf[i + 3u];
    }""",
    """    st.r = vec4<f32>(0.0);
    let i = 4u * l.idx;
    if nibble != 0u {
        st.r = vec4<f32>(r_buf[i], r_buf[i + 1u], r_buf[i + 2u], r_buf[i + 3u]);
    }""",
)
variant(
    "r4",
    True,
    "r of all four neurons under one branch (any refractory) instead of four (r is stored "
    "exactly for every neuron, so the bits are the same)",
    [R4],
)
variant("reorder_r4", True, "reorder and r4 together", [REORDER, R4])

variant(
    "multi_step_loop",
    True,
    "the per-step kernel without ONE_STEP: its loop bound read from the dispatch uniform",
    [
        (
            "common.wgsl",
            """    if ONE_STEP {
        return dispatch.t0 + 1u;
    }""",
            "",
        )
    ],
)

HOIST_FIELDS = """    gain: vec4<f32>,     // drive: noise gain
    asc_gain0: vec4<f32>,
    asc_gain1: vec4<f32>,
    asc_decay0: vec4<f32>,
    asc_decay1: vec4<f32>,
    asc_keep0: vec4<f32>,
    asc_keep1: vec4<f32>,
    asc_amp0: vec4<f32>,
    asc_amp1: vec4<f32>,
    thv0: vec4<f32>,
    thv1: vec4<f32>,
    thv2: vec4<f32>,
    thv3: vec4<f32>,
    thv4: vec4<f32>,
}"""
HOIST_LOAD = """    p.gain = wide_param(SLOT_GAIN, n);
    if J >= 1u {
        p.asc_gain0 = wide_param(slot_asc_gain(0u), n);
        p.asc_decay0 = wide_param(slot_asc_decay(0u), n);
        p.asc_keep0 = wide_param(slot_asc_keep(0u), n);
        p.asc_amp0 = wide_param(slot_asc_amp(0u), n);
    }
    if J >= 2u {
        p.asc_gain1 = wide_param(slot_asc_gain(1u), n);
        p.asc_decay1 = wide_param(slot_asc_decay(1u), n);
        p.asc_keep1 = wide_param(slot_asc_keep(1u), n);
        p.asc_amp1 = wide_param(slot_asc_amp(1u), n);
    }
    if THETA_V {
        p.thv0 = wide_param(slot_thv(0u), n);
        p.thv1 = wide_param(slot_thv(1u), n);
        p.thv2 = wide_param(slot_thv(2u), n);
        if J >= 1u {
            p.thv3 = wide_param(slot_thv(3u), n);
        }
        if J >= 2u {
            p.thv4 = wide_param(slot_thv(4u), n);
        }
    }
    return p;"""
variant(
    "hoist",
    True,
    "the after-spike currents' and θ_v's coefficients loaded once per dispatch into registers "
    "with the other parameters, instead of read in every step",
    [
        ("wide.wgsl", "    gain: vec4<f32>,     // drive: noise gain\n}", HOIST_FIELDS),
        ("wide.wgsl", "    p.gain = wide_param(SLOT_GAIN, n);\n    return p;", HOIST_LOAD),
        ("wide.wgsl", "fma(wide_param(slot_asc_gain(0u), n), i1, v_star)", "fma(p.asc_gain0, i1, v_star)"),
        ("wide.wgsl", "fma(wide_param(slot_asc_gain(1u), n), i2, v_star)", "fma(p.asc_gain1, i2, v_star)"),
        ("wide.wgsl", "(*st).thv * wide_param(slot_thv(0u), n)", "(*st).thv * p.thv0"),
        ("wide.wgsl", "fma(a, wide_param(slot_thv(1u), n), acc)", "fma(a, p.thv1, acc)"),
        ("wide.wgsl", "fma(w, wide_param(slot_thv(2u), n), acc)", "fma(w, p.thv2, acc)"),
        ("wide.wgsl", "fma(wide_param(slot_thv(3u), n), i1, acc)", "fma(p.thv3, i1, acc)"),
        ("wide.wgsl", "fma(wide_param(slot_thv(4u), n), i2, acc)", "fma(p.thv4, i2, acc)"),
        ("wide.wgsl", "i1 * wide_param(slot_asc_decay(0u), n)", "i1 * p.asc_decay0"),
        ("wide.wgsl", "i2 * wide_param(slot_asc_decay(1u), n)", "i2 * p.asc_decay1"),
        (
            "wide.wgsl",
            "fma(wide_param(slot_asc_keep(0u), n), held, wide_param(slot_asc_amp(0u), n))",
            "fma(p.asc_keep0, held, p.asc_amp0)",
        ),
        (
            "wide.wgsl",
            "fma(wide_param(slot_asc_keep(1u), n), held, wide_param(slot_asc_amp(1u), n))",
            "fma(p.asc_keep1, held, p.asc_amp1)",
        ),
    ],
)

variant(
    "candidate",
    True,
    "reorder, r4 and hoist together (what the default would become)",
    [REORDER, R4] + VARIANTS["hoist"][2],
)

# --- Ablations (wrong results; timing only) ----------------------------------------------------

NO_REFR_READ = (
    "wide.wgsl",
    "*st = load_wide(l, refractory_nibble(l.id));",
    "*st = load_wide(l, 0u);",
)
NO_SPIKE_WORDS = (
    "wide_ballot.wgsl",
    """        if writes && word < info.words {
            spikes[t * info.words + word] = wide_word(sg_id, b0, b1, b2, b3);
        }""",
    """        if writes && word > 0xfffffff0u {
            spikes[t * info.words + word] = wide_word(sg_id, b0, b1, b2, b3);
        }""",
)
NO_REFR_WORDS = (
    "wide_ballot.wgsl",
    """    if writes && word < info.words {
        spikes[info.refr_base + word] = wide_word(sg_id, q0, q1, q2, q3);
    }""",
    """    if writes && word > 0xfffffff0u {
        spikes[info.refr_base + word] = wide_word(sg_id, q0, q1, q2, q3);
    }""",
)
variant("x_no_refr_read", False, "the refractory words are not read (r = 0 assumed)", [NO_REFR_READ])
variant("x_no_spike_words", False, "no spike word is written (the ballots still run)", [NO_SPIKE_WORDS])
variant("x_no_refr_words", False, "the refractory words are not written", [NO_REFR_WORDS])
variant(
    "x_state_only",
    False,
    "no refractory or spike words read or written; V, r and the input only",
    [NO_REFR_READ, NO_SPIKE_WORDS, NO_REFR_WORDS],
)
variant(
    "x_cheap_philox",
    False,
    "Philox with 2 rounds instead of 10 (what the other 8 cost)",
    [("common.wgsl", "for (var round = 0u; round < 10u; round++) {", "for (var round = 0u; round < 2u; round++) {")],
)
variant(
    "x_no_table",
    False,
    "the normal variate without the quantile table (a scaled word instead)",
    [
        (
            "common.wgsl",
            """fn noise_value(w: u32) -> f32 {
    let q = w & 0x7fffffffu;""",
            """fn noise_value(w: u32) -> f32 {
    if true {
        return f32(bitcast<i32>(w)) * 4.656613e-10;
    }
    let q = w & 0x7fffffffu;""",
        )
    ],
)


def write(out, name):
    exact, what, patches = VARIANTS[name]
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    texts = {}
    for file, old, new in patches:
        text = texts.get(file) or (SHADERS / file).read_text()
        count = text.count(old)
        if count != 1:
            sys.exit(f"variant {name}: the text to replace occurs {count} times in {file}:\n{old}")
        texts[file] = text.replace(old, new)
    for file, text in texts.items():
        (d / file).write_text(text)
    (d / "WHAT").write_text(("exact: " if exact else "") + what + "\n")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1])
    names = sys.argv[2:] or list(VARIANTS)
    for name in names:
        if name not in VARIANTS:
            sys.exit(f"no variant '{name}'; there are: {', '.join(VARIANTS)}")
        write(out, name)
        print(f"{name:18} {'exact' if VARIANTS[name][0] else 'ablation':9} {VARIANTS[name][1]}")


if __name__ == "__main__":
    main()
