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

variant(
    "multi_step_loop",
    True,
    "the per-step kernel without ONE_STEP: its loop bound read from the dispatch uniform "
    "(H200, LIF: 1.00x at 1M and 16M; ONE_STEP changes nothing there)",
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

# wide.wgsl's `param_at`, after which the table variants add their helpers.
PARAM_AT = """// Value i of the parameters.
fn param_at(i: u32) -> f32 {
    return params4[i >> 2u][i & 3u];
}"""


def after_param_at(code):
    """A patch of wide.wgsl that adds `code` after `param_at`."""
    return ("wide.wgsl", PARAM_AT, PARAM_AT + "\n\n" + code)


# The noise table's two values of entry i (at an even offset: the table starts on a multiple
# of 4) read as one 16-byte load in the wide kernel instead of two 4-byte ones.
TABLE_PAIR = [
    (
        "common.wgsl",
        """    let at = info.noise_table + 2u * i;
    let mag = fma(frac, param_at(at + 1u), param_at(at));""",
        """    let ab = noise_entry(info.noise_table + 2u * i);
    let mag = fma(frac, ab.y, ab.x);""",
    ),
    after_param_at(
        """// Values at and at + 1 of the parameters, at even: one 16-byte load.
fn noise_entry(at: u32) -> vec2<f32> {
    let q = params4[at >> 2u];
    return select(q.xy, q.zw, (at & 2u) != 0u);
}"""
    ),
    (
        "lane.wgsl",
        """fn param_at(i: u32) -> f32 {""",
        """fn noise_entry(at: u32) -> vec2<f32> {
    return vec2<f32>(param_at(at), param_at(at + 1u));
}

fn param_at(i: u32) -> f32 {""",
    ),
]
variant(
    "table_pair",
    True,
    "the noise table's entry (two values) as one 16-byte load (H200, LIF with noise: 0.98-1.01x; "
    "not adopted)",
    TABLE_PAIR,
)

# The table in workgroup memory, filled once per dispatch (224 vectors, 3.5 KB).
SMEM_TABLE = [
    TABLE_PAIR[0],
    after_param_at(
        """var<workgroup> wg_table: array<vec4<f32>, 224>;

fn fill_table(lid: u32) {
    if NOISE {
        for (var k = lid; k < 224u; k += 256u) {
            wg_table[k] = params4[(info.noise_table >> 2u) + k];
        }
        workgroupBarrier();
    }
}

fn noise_entry(at: u32) -> vec2<f32> {
    let q = wg_table[(at - info.noise_table) >> 2u];
    return select(q.xy, q.zw, (at & 2u) != 0u);
}"""
    ),
    TABLE_PAIR[2],
    (
        "wide_ballot.wgsl",
        """    let l = wide_of(wg, lid);
    var st: WideState;
    var carry: WideCarry;
    begin_wide(l, &st, &carry);""",
        """    let l = wide_of(wg, lid);
    var st: WideState;
    var carry: WideCarry;
    begin_wide(l, &st, &carry);
    fill_table(lid);""",
    ),
    (
        "wide_workgroup.wgsl",
        """    begin_wide(l, &st, &carry);""",
        """    begin_wide(l, &st, &carry);
    fill_table(lid);""",
    ),
]
variant(
    "smem_table",
    True,
    "the noise table in workgroup memory, filled once per dispatch (H200, LIF with noise: "
    "0.88-0.94x per step, 1.01x fused; not adopted)",
    SMEM_TABLE,
)

# The workgroup-atomics entry point with 256 / X invocations per workgroup, each stepping X
# groups of four neurons (invocation i the groups i, i + 256 / X, ...): the same 1,024 neurons
# and 32 words per workgroup, so the host is unchanged. At 1M neurons the per-step kernel is
# one wave of workgroups; fewer invocations with more independent loads each may hide more of
# the memory latency (or cost registers in the fused loop).
WG_MAIN_OLD = (SHADERS / "wide_workgroup.wgsl").read_text()
WG_MAIN_OLD = WG_MAIN_OLD[WG_MAIN_OLD.index("@compute @workgroup_size(256)"):]


def wide_multi(x):
    size = 256 // x
    ks = range(x)
    lines = [
        f"@compute @workgroup_size({size})",
        "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
        "    let wg = wid.y * info.wg_x + wid.x;",
        "    if wg * 256u >= info.threads / 4u {",
        "        return;",
        "    }",
    ]
    for k in ks:
        lines += [
            f"    let l{k} = wide_of(wg, lid + {k * size}u);",
            f"    var st{k}: WideState;",
            f"    var c{k}: WideCarry;",
            f"    begin_wide(l{k}, &st{k}, &c{k});",
            f"    let r{k} = st{k}.r;",
        ]
    lines += [
        "    if lid < 32u {",
        "        atomicStore(&wide_words[lid], 0u);",
        "    }",
        "    workgroupBarrier();",
        "    let word = wg * 32u + lid;",
        "    let end = dispatch_end();",
        "    for (var t = dispatch.t0; t < end; t++) {",
    ]
    for k in ks:
        lines += [
            f"        let b{k} = nibble_of(step_wide(l{k}, t, end, &st{k}, &c{k}));",
        ]
    for k in ks:
        lines += [
            f"        if b{k} != 0u {{",
            f"            atomicOr(&wide_words[{k * size // 8}u + lid / 8u], b{k} << (4u * (lid % 8u)));",
            "        }",
        ]
    lines += [
        "        workgroupBarrier();",
        "        if lid < 32u {",
        "            if word < info.words {",
        "                spikes[t * info.words + word] = atomicLoad(&wide_words[lid]);",
        "            }",
        "            atomicStore(&wide_words[lid], 0u);",
        "        }",
        "        workgroupBarrier();",
        "    }",
    ]
    for k in ks:
        lines += [
            f"    let q{k} = nibble_of(vec4<bool>(l{k}.live) & (st{k}.r > vec4<f32>(0.0)));",
            f"    if q{k} != 0u {{",
            f"        atomicOr(&wide_words[{k * size // 8}u + lid / 8u], q{k} << (4u * (lid % 8u)));",
            "    }",
        ]
    lines += [
        "    workgroupBarrier();",
        "    if lid < 32u && word < info.words {",
        "        spikes[info.refr_base + word] = atomicLoad(&wide_words[lid]);",
        "    }",
    ]
    for k in ks:
        lines.append(f"    end_wide(l{k}, st{k}, r{k}, c{k}, end);")
    lines.append("}")
    return [("wide_workgroup.wgsl", WG_MAIN_OLD, "\n".join(lines) + "\n")]


# H200 at 591f7ae, GPU time ÷ the built-in kernel's: slower on every path.
MEASURED = {
    2: "LIF per step 0.89x at 1M, 0.90x at 16M, fused 0.68x / 0.80x; noise and ALIF/GLIF2/GLIF5 "
    "0.74-0.96x",
    4: "LIF per step 0.90x at 1M, 0.70x at 16M, fused 0.72x / 0.58x",
}
for _x in (2, 4):
    variant(
        f"wg{256 // _x}_x{_x}",
        True,
        f"the workgroup-atomics entry point with {256 // _x} invocations per workgroup, "
        f"{_x} groups of four neurons each ({4 * _x} neurons per invocation) (H200: "
        f"{MEASURED[_x]}; not adopted)",
        wide_multi(_x),
    )

# The normal variates of a whole quad of steps computed when its Philox blocks are drawn (16
# table lookups at once, independent of each other) and carried as floats instead of the
# words, so that no step waits on a table load; the noise cache holds the variates of steps
# 1-3 (as bits) instead of the words, which the per-step kernel then no longer transforms.
# The same bits: the same function of the same words, computed earlier.
QUAD_Z = [
    (
        "wide.wgsl",
        """// Word w of the quad (w is the same for every invocation of a dispatch).
fn wide_noise_word(q: WideNoise, w: u32) -> vec4<u32> {
    return select(select(q.w0, q.w1, w == 1u), select(q.w2, q.w3, w == 3u), w >= 2u);
}""",
        """// Word w of the quad (w is the same for every invocation of a dispatch).
fn wide_noise_word(q: WideNoise, w: u32) -> vec4<u32> {
    return select(select(q.w0, q.w1, w == 1u), select(q.w2, q.w3, w == 3u), w >= 2u);
}

// The normal variates of the four neurons for the steps of one quad: component c of `zk` is
// neuron n + c's variate of word k.
struct WideZ {
    z0: vec4<f32>,
    z1: vec4<f32>,
    z2: vec4<f32>,
    z3: vec4<f32>,
}

// The variates of four words, component by component.
fn wide_noise_values(words: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(noise_value(words.x), noise_value(words.y), noise_value(words.z),
                     noise_value(words.w));
}

// The variates of a quad from its blocks: all four words' where the dispatch may go on
// through the quad or keeps it in the noise cache, else (one step, no cache) only word w's,
// in every slot.
fn wide_quad_z(q: WideNoise, w: u32) -> WideZ {
    if ONE_STEP && !NOISE_CACHE {
        let v = wide_noise_values(wide_noise_word(q, w));
        return WideZ(v, v, v, v);
    }
    return WideZ(wide_noise_values(q.w0), wide_noise_values(q.w1), wide_noise_values(q.w2),
                 wide_noise_values(q.w3));
}

// The variates of word w of the quad.
fn wide_z_of(q: WideZ, w: u32) -> vec4<f32> {
    return select(select(q.z0, q.z1, w == 1u), select(q.z2, q.z3, w == 3u), w >= 2u);
}""",
    ),
    (
        "wide.wgsl",
        """fn wide_input(p: WideParams, host: vec4<f32>, si: StepInfo, words: vec4<u32>) -> vec4<f32> {
    var current = (host + p.offset) + si.sched;
    if NOISE {
        let z = vec4<f32>(noise_value(words.x), noise_value(words.y), noise_value(words.z),
                          noise_value(words.w));
        current = fma(z, p.gain, current);
    }
    return current;
}""",
        """fn wide_input(p: WideParams, host: vec4<f32>, si: StepInfo, z: vec4<f32>) -> vec4<f32> {
    var current = (host + p.offset) + si.sched;
    if NOISE {
        current = fma(z, p.gain, current);
    }
    return current;
}""",
    ),
    (
        "wide.wgsl",
        "    noise: WideNoise,       // the noise blocks of the current quad of steps",
        "    z: WideZ,               // the normal variates of the current quad of steps",
    ),
    (
        "wide.wgsl",
        """        (*carry).noise = wide_noise_blocks(l, si);""",
        """        (*carry).z = wide_quad_z(wide_noise_blocks(l, si), w);""",
    ),
    (
        "wide.wgsl",
        """    var words = wide_noise_word((*carry).noise, w);
    if NOISE_CACHE && !(*carry).drawn {
        // This quad's blocks were drawn by an earlier dispatch (w ≥ 1 here).
        words = noise_cache4[(w - 1u) * l.bn + l.idx];
    }
    let input = wide_input((*carry).p, host, si, words);""",
        """    var z = wide_z_of((*carry).z, w);
    if NOISE_CACHE && !(*carry).drawn {
        // This quad's variates were computed by an earlier dispatch (w ≥ 1 here).
        z = bitcast<vec4<f32>>(noise_cache4[(w - 1u) * l.bn + l.idx]);
    }
    let input = wide_input((*carry).p, host, si, z);""",
    ),
    (
        "wide.wgsl",
        """        noise_cache4[l.idx] = carry.noise.w1;
        noise_cache4[l.bn + l.idx] = carry.noise.w2;
        noise_cache4[2u * l.bn + l.idx] = carry.noise.w3;""",
        """        noise_cache4[l.idx] = bitcast<vec4<u32>>(carry.z.z1);
        noise_cache4[l.bn + l.idx] = bitcast<vec4<u32>>(carry.z.z2);
        noise_cache4[2u * l.bn + l.idx] = bitcast<vec4<u32>>(carry.z.z3);""",
    ),
]
variant(
    "quad_z",
    True,
    "the variates of a quad of steps computed when its blocks are drawn and carried (and "
    "cached) as floats instead of the words (H200 at 0bd0ea3, LIF with noise: 0.87-0.94x, "
    "ALIF and GLIF5 fused with noise 0.94x and 0.87x; lavapipe fused 0.68x; not adopted)",
    QUAD_Z,
)

# The workgroup-atomics entry point's spike words built once every eight steps instead of
# every step: each invocation gathers its nibbles of up to eight steps in one register, and at
# the end of each block of eight (or of the dispatch) writes it to workgroup memory, where 32
# invocations per step of the block assemble that step's 32 words: two barriers per eight
# steps instead of two per step, no atomics in the loop. The refractory words stay as they are.
WORDS8 = [
    (
        "wide_workgroup.wgsl",
        "var<workgroup> wide_words: array<atomic<u32>, 32>;",
        """var<workgroup> wide_words: array<atomic<u32>, 32>;
// Each invocation's nibbles of up to eight steps, [32 words][8 invocations + 1 pad], so that
// the 32 invocations building one step's words read 32 different banks.
var<workgroup> acc8: array<u32, 288>;""",
    ),
    (
        "wide_workgroup.wgsl",
        """    for (var t = dispatch.t0; t < end; t++) {
        let bits = nibble_of(step_wide(l, t, end, &st, &carry));
        if bits != 0u {
            atomicOr(&wide_words[lid / 8u], bits << (4u * (lid % 8u)));
        }
        workgroupBarrier();
        // Each spike word is assembled in workgroup memory and written once.
        if lid < 32u {
            if word < info.words {
                spikes[t * info.words + word] = atomicLoad(&wide_words[lid]);
            }
            atomicStore(&wide_words[lid], 0u);
        }
        workgroupBarrier();
    }""",
        """    let slot = (lid / 8u) * 9u + lid % 8u; // this invocation's nibbles: word lid / 8, nibble lid % 8
    let j = lid % 32u;                      // at a flush, invocation lid builds word j
    let s = lid / 32u;                      // of step s of the block
    var acc = 0u;
    var k = 0u;
    var first = dispatch.t0;
    for (var t = dispatch.t0; t < end; t++) {
        acc |= nibble_of(step_wide(l, t, end, &st, &carry)) << (4u * k);
        k++;
        if k == 8u || t + 1u == end {
            acc8[slot] = acc;
            workgroupBarrier();
            if s < k && wg * 32u + j < info.words {
                var w = 0u;
                for (var i = 0u; i < 8u; i++) {
                    w |= ((acc8[j * 9u + i] >> (4u * s)) & 0xfu) << (4u * i);
                }
                spikes[(first + s) * info.words + wg * 32u + j] = w;
            }
            workgroupBarrier();
            acc = 0u;
            k = 0u;
            first = t + 1u;
        }
    }""",
    ),
]
variant(
    "words8",
    True,
    "the workgroup-atomics entry point's spike words assembled once every eight steps from "
    "each invocation's nibbles in one register (two barriers per eight steps, no atomics in "
    "the loop; lavapipe, LIF at 200K against the atomics: 0.83x per step, 0.75x fused, 0.85x "
    "fused with noise; not yet timed on a GPU)",
    WORDS8,
)

# --- Ablations (wrong results; timing only) ----------------------------------------------------

NO_REFR_READ = (
    "wide.wgsl",
    "*st = load_wide(l, refractory_nibble(l.id));",
    "*st = load_wide(l, 0u);",
)
NO_SPIKE_WORDS = [
    (
        "wide_ballot.wgsl",
        """        if writes && word < info.words {
            spikes[t * info.words + word] = wide_word(sg_id, b0, b1, b2, b3);
        }""",
        """        if writes && word > 0xfffffff0u {
            spikes[t * info.words + word] = wide_word(sg_id, b0, b1, b2, b3);
        }""",
    ),
    (
        "wide_workgroup.wgsl",
        """            if word < info.words {
                spikes[t * info.words + word] = atomicLoad(&wide_words[lid]);
            }""",
        """            if word > 0xfffffff0u {
                spikes[t * info.words + word] = atomicLoad(&wide_words[lid]);
            }""",
    ),
]
NO_REFR_WORDS = [
    (
        "wide_ballot.wgsl",
        """    if writes && word < info.words {
        spikes[info.refr_base + word] = wide_word(sg_id, q0, q1, q2, q3);
    }""",
        """    if writes && word > 0xfffffff0u {
        spikes[info.refr_base + word] = wide_word(sg_id, q0, q1, q2, q3);
    }""",
    ),
    (
        "wide_workgroup.wgsl",
        """    if lid < 32u && word < info.words {
        spikes[info.refr_base + word] = atomicLoad(&wide_words[lid]);
    }""",
        """    if lid < 32u && word > 0xfffffff0u {
        spikes[info.refr_base + word] = atomicLoad(&wide_words[lid]);
    }""",
    ),
]
variant("x_no_refr_read", False, "the refractory words are not read (r = 0 assumed)", [NO_REFR_READ])
variant("x_no_spike_words", False, "no spike word is written (the bits are still gathered)", NO_SPIKE_WORDS)
variant("x_no_refr_words", False, "the refractory words are not written", NO_REFR_WORDS)
variant(
    "x_state_only",
    False,
    "no refractory or spike words read or written; V, r and the input only",
    [NO_REFR_READ] + NO_SPIKE_WORDS + NO_REFR_WORDS,
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


variant(
    "x_empty",
    False,
    "every workgroup returns at once: what a dispatch costs with no work (the per-step floor; "
    "H200: 2.4 us at 1M neurons, 11.3 us at 16M)",
    [
        (
            "wide_workgroup.wgsl",
            """    if wg * 256u >= info.threads / 4u {
        return;
    }""",
            """    if wg < 0xffffffffu {
        return;
    }""",
        ),
        (
            "wide_ballot.wgsl",
            """    if wg * 256u >= info.threads / 4u {
        return;
    }""",
            """    if wg < 0xffffffffu {
        return;
    }""",
        ),
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
    (d / "WHAT").write_text(("exact: " if exact else "ablation: ") + what + "\n")


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
