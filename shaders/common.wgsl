// Shared by every step kernel: bindings, parameter access, noise, the input current and the
// steps of `update_neuron` that every model shares. CPU twin: src/cpu/mod.rs (`P::at` for
// `param`, `BlockCurrents` for `input_current`, `update_neuron` for the steps), src/noise.rs.
//
// Two layouts of invocations, each in a file of its own with the bindings of V, the state
// components, the host input and the noise cache: lane.wgsl, one invocation per (trial,
// neuron), any model and input; and wide.wgsl, one invocation per four neurons of any model
// with K ≤ 1 and J ≤ 2, moving those as 16-byte vectors. The shard's neurons are padded to a
// multiple of 32 (`n_pad`), and the spike words of a step form the [B][W] frame of
// src/frame.rs in both.
//
// One dispatch advances `count` steps with the neuron's state in registers: `count = 1` is the
// per-step kernel, `count = T` the fused kernel. Both run exactly the same arithmetic.
// Each layout's entry point `main` builds the spike words with workgroup atomics
// (main_workgroup.wgsl, wide_workgroup.wgsl; any adapter) or subgroupBallot (main_ballot.wgsl
// where the adapter's subgroups are a multiple of 32 invocations up to 128 laid out along the
// local index, wide_ballot.wgsl where they are any multiple of 8 up to 128 so laid out;
// probed at device creation, and the size checked again by the entry points at run time).

// --- Pipeline constants (fixed per population; see src/gpu/engine.rs `overrides`) ---
override K: u32 = 0u;           // spike-triggered threshold components θ_k
override J: u32 = 0u;           // after-spike currents (GLIF3–5)
override NC: u32 = 0u;          // state components per neuron: K + J (+1 for θ_v), ≤ KMAX
override PN_MASK: u32 = 0u;     // bit s: parameter slot s has one value per neuron
override PN_MASK_HI: u32 = 0u;  // the same for slots 32..63
override STRIDE: u32 = 4u;      // length of a per-neuron parameter region (a multiple of 4)
override PARAM_BASE: u32 = 0u;  // where the per-neuron regions begin: the slot count rounded up to 4
override HOST_INPUT: bool = false;
override NOISE: bool = false;
override HAS_SCHED: bool = false; // a piecewise-constant drive is set: read `sched`
override ONE_TRIAL: bool = false; // B = 1: invocation id = neuron, no division by n_pad
override NOISE_CACHE: bool = false; // NOISE, and `noise_cache` holds words 1–3 of the blocks
override ONE_STEP: bool = false;  // every dispatch runs one step (the per-step kernel)

const KMAX: u32 = 8u;

struct Info {
    n: u32,            // neurons in this shard
    n_pad: u32,        // n rounded up to a multiple of 32
    trials: u32,       // B
    wg_x: u32,         // workgroups along x (dispatches are tiled in x and y)
    threads: u32,      // trials * n_pad
    words: u32,        // trials * n_pad / 32: spike words per step
    n0: u32,           // global index of the shard's first neuron (the noise counter)
    seed_lo: u32,
    seed_hi: u32,
    dt: f32,
    noise_table: u32,  // offset of the noise table in the parameters (entry i: 2i, 2i + 1)
    refr_base: u32,    // offset in `spikes` of the refractory words: bit = (r > 0), [B][W]
}

// Which steps this dispatch runs (dynamic offset: one per dispatch). Step t of the chunk is
// global step base + t (the noise counter).
struct Dispatch {
    t0: u32,
    count: u32,
    flags: u32,   // FLAG_LOCK | FLAG_FREEZE | FLAG_NO_HOST
    base_lo: u32,
    base_hi: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// What varies from step to step, computed once per step.
struct StepInfo {
    step_lo: u32,
    step_hi: u32,
    sched: f32,   // the piecewise-constant drive at this step
}

// The state of one neuron in one trial, held in registers across the steps of a dispatch.
// th holds the components θ_1..θ_K, I_1..I_J, θ_v (CPU twin: the `comps` of `update_neuron`).
struct NeuronState {
    v: f32,
    r: f32,
    th: array<f32, KMAX>,
}

const FLAG_LOCK: u32 = 1u;
const FLAG_FREEZE: u32 = 2u;
const FLAG_NO_HOST: u32 = 4u;   // this run has no host input: read 0 instead of `inputs`
const FLAG_NOISE_CACHED: u32 = 8u; // `noise_cache` holds the block of this dispatch's first quad
const NOISE_CELLS: u32 = 16u;   // cells per octave of the noise table (src/noise.rs CELLS)

// Parameter slots, in the order of `Population::param_list` with the drive's two inserted.
const SLOT_V_REST: u32 = 0u;
const SLOT_V_RESET: u32 = 1u;
const SLOT_THRESHOLD: u32 = 2u;
const SLOT_T_REF: u32 = 3u;
const SLOT_RESISTANCE: u32 = 4u;
const SLOT_DECAY_M: u32 = 5u;
const SLOT_M_V: u32 = 6u;
const SLOT_B_V: u32 = 7u;
const SLOT_OFFSET: u32 = 8u;        // drive: bias + noise mean
const SLOT_GAIN: u32 = 9u;          // drive: noise gain
const SLOT_DECAY_K: u32 = 10u;      // + k
// SLOT_INCREMENT_K = 10 + K + k, SLOT_KEEP_K = 10 + 2K + k (θ_k's spike reset factor r_k)

// true: GLIF5's θ_v, the last state component.
override THETA_V: bool = false;

// Parameter slots after the θ_k ones (order of `Population::param_list`).
// θ_k: decay at SLOT_DECAY_K + k, increment at + K + k, reset factor at + 2K + k.
fn slot_asc_decay(j: u32) -> u32 { return SLOT_DECAY_K + 3u * K + j; }
fn slot_asc_gain(j: u32) -> u32 { return SLOT_DECAY_K + 3u * K + J + j; }
fn slot_asc_keep(j: u32) -> u32 { return SLOT_DECAY_K + 3u * K + 2u * J + j; }
fn slot_asc_amp(j: u32) -> u32 { return SLOT_DECAY_K + 3u * K + 3u * J + j; }
fn slot_thv(i: u32) -> u32 { return SLOT_DECAY_K + 3u * K + 4u * J + i; } // decay, u, w, then I_j

@group(0) @binding(0) var<uniform> info: Info;
// `dispatch: Dispatch` is declared by dispatch_uniform.wgsl or dispatch_immediate.wgsl.
@group(0) @binding(5) var<storage, read_write> r_buf: array<f32>; // [B][n]
// [T][B][W] spike words of the chunk, then [B][W] refractory words (bit set where r > 0),
// which let a step skip reading r for the free neurons (most of them).
@group(0) @binding(7) var<storage, read_write> spikes: array<u32>;
@group(0) @binding(8) var<storage, read> sched: array<f32>;       // [T], when HAS_SCHED
// Bindings 2 (the parameters and the noise table, read through `param_at(i)`), 3 (the host
// input, [T][B][n]), 4 (V, [B][n]), 6 (the θ / after-spike-current / θ_v components,
// [NC][B][n]) and 9 (the noise cache: words 1, 2 and 3 of each neuron's current Philox block,
// [3][B][n], so that a dispatch starting inside a quad of steps need not draw it again) are
// declared by each layout, lane.wgsl as floats and words, wide.wgsl as vectors of four
// neurons.

// The parameter layout (src/gpu/engine.rs `make_shard` writes it): one value per slot at
// index `slot` (unused for a per-neuron slot), padded to PARAM_BASE, a multiple of 4; then
// each per-neuron slot's region of STRIDE values (a multiple of 4), in slot order, holding the
// shard's neurons. Every region starts on a 16-byte boundary, so wide.wgsl reads four
// neurons' values as one vector. With constant `slot` all of this folds to one load.

// Whether slot `slot` has one value per neuron.
fn per_neuron(slot: u32) -> bool {
    if slot < 32u {
        return ((PN_MASK >> slot) & 1u) == 1u;
    }
    return ((PN_MASK_HI >> (slot - 32u)) & 1u) == 1u;
}

// Where per-neuron slot `slot`'s region begins.
fn region(slot: u32) -> u32 {
    var before: u32;
    if slot < 32u {
        before = countOneBits(PN_MASK & ((1u << slot) - 1u));
    } else {
        before = countOneBits(PN_MASK) + countOneBits(PN_MASK_HI & ((1u << (slot - 32u)) - 1u));
    }
    return PARAM_BASE + before * STRIDE;
}

// Parameter `slot` of neuron `n`. CPU twin: `P::at`.
fn param(slot: u32, n: u32) -> f32 {
    if per_neuron(slot) {
        return param_at(region(slot) + n);
    }
    return param_at(slot);
}

// The parameters every step reads, loaded once per dispatch (when the lane begins) and kept
// in registers across its steps; the per-component ones (θ_k, I_j, θ_v) are read with
// `param` where used. CPU twin: the fields of `NeuronParams`, src/cpu/mod.rs.
struct NeuronParams {
    v_rest: f32,
    v_reset: f32,
    threshold: f32,
    t_ref: f32,
    resistance: f32,
    decay_m: f32,
    m_v: f32,
    b_v: f32,
    offset: f32,   // drive: bias + noise mean
    gain: f32,     // drive: noise gain
}

fn load_params(n: u32) -> NeuronParams {
    var p: NeuronParams;
    p.v_rest = param(SLOT_V_REST, n);
    p.v_reset = param(SLOT_V_RESET, n);
    p.threshold = param(SLOT_THRESHOLD, n);
    p.t_ref = param(SLOT_T_REF, n);
    p.resistance = param(SLOT_RESISTANCE, n);
    p.decay_m = param(SLOT_DECAY_M, n);
    p.m_v = param(SLOT_M_V, n);
    p.b_v = param(SLOT_B_V, n);
    p.offset = param(SLOT_OFFSET, n);
    p.gain = param(SLOT_GAIN, n);
    return p;
}

// Philox4x32-10. CPU twin: `philox4x32_10`, src/noise.rs.
fn philox(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = ctr;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        if round > 0u {
            k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let p0 = mulhilo(0xD2511F53u, c.x);
        let p1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

// The Philox block holding the noise of steps 4⌊step/4⌋ … 4⌊step/4⌋ + 3 of one neuron in one
// trial. CPU twin: `noise_block`, src/noise.rs.
fn noise_block(trial: u32, n: u32, si: StepInfo) -> vec4<u32> {
    let quad_lo = (si.step_lo >> 2u) | (si.step_hi << 30u);
    let quad_hi = si.step_hi >> 2u;
    return philox(
        vec4<u32>(info.n0 + n, trial, quad_lo, quad_hi),
        vec2<u32>(info.seed_lo, info.seed_hi),
    );
}

// The normal variate of one 32-bit word: sign from bit 31, magnitude by linear interpolation
// in the table of normal quantiles at the end of `params`. CPU twin: `noise_value_in`,
// src/noise.rs (written there without the branch, which gives the same bits).
fn noise_value(w: u32) -> f32 {
    let q = w & 0x7fffffffu;
    var i = q;
    var frac = 0.0;
    if q >= NOISE_CELLS {
        let e = firstLeadingBit(q);      // the octave: 2^e ≤ q < 2^(e+1), e = 4…30
        let sh = e - 4u;                 // bits of q below the cell index
        i = NOISE_CELLS + sh * NOISE_CELLS + ((q >> sh) - NOISE_CELLS);
        let rem = q & ((1u << sh) - 1u);
        // The position in the cell, rem / 2^sh, from at most 24 bits so that it is exact.
        let d = select(0u, sh - 24u, sh > 24u);
        frac = f32(rem >> d) * bitcast<f32>((127u - (sh - d)) << 23u);
    }
    let at = info.noise_table + 2u * i;
    let mag = fma(frac, param_at(at + 1u), param_at(at));
    return select(mag, -mag, (w >> 31u) == 1u);
}

// The chunk step after the dispatch's last: t0 + count, where count is 1 whenever ONE_STEP is
// set (the simulator writes one step per dispatch then, src/gpu/engine.rs
// `write_step_uniforms`), so that the compiler sees a loop that runs once.
fn dispatch_end() -> u32 {
    if ONE_STEP {
        return dispatch.t0 + 1u;
    }
    return dispatch.t0 + dispatch.count;
}

// Whether chunk step t, word w of its quad of steps, draws a new noise block: when a quad
// begins, or when the dispatch begins inside a quad whose block the noise cache does not hold.
// The same for every invocation of a dispatch, and for both layouts. CPU twin: the draw
// condition in `CpuSim::advance` (src/cpu/mod.rs).
fn draws_noise(t: u32, w: u32) -> bool {
    let cached = NOISE_CACHE && (dispatch.flags & FLAG_NOISE_CACHED) != 0u;
    return NOISE && (w == 0u || (t == dispatch.t0 && !cached));
}

// Whether a dispatch whose steps end before chunk step `end` ends inside a quad of steps, so
// that an invocation that drew its block there keeps words 1–3 of it in the noise cache for
// the next dispatch (which the host tells, by FLAG_NOISE_CACHED, that they are there). CPU
// twin: the end of `CpuSim::advance` (`noise_cached_at`).
fn keeps_noise(end: u32) -> bool {
    return NOISE_CACHE && ((dispatch.base_lo + end) & 3u) != 0u;
}

// Global step index and schedule value of chunk step t.
fn step_info(t: u32) -> StepInfo {
    var si: StepInfo;
    si.step_lo = dispatch.base_lo + t;
    si.step_hi = dispatch.base_hi + select(0u, 1u, si.step_lo < dispatch.base_lo);
    si.sched = 0.0;
    if HAS_SCHED {
        si.sched = sched[t];
    }
    return si;
}

// The input current of a step: (host + (bias + mean)) + schedule, plus noise (`word` is
// this step's word of the neuron's noise block). CPU twin: `BlockCurrents::fill` in
// src/cpu/mod.rs and `noise_draw` in src/noise.rs.
fn input_current(p: NeuronParams, host: f32, si: StepInfo, word: u32) -> f32 {
    var current = (host + p.offset) + si.sched;
    if NOISE {
        current = fma(noise_value(word), p.gain, current);
    }
    return current;
}

// Steps 1 and 2 of every model: the refractory countdown and the integration of the input.
// CPU twin: the lines under "1." and "2." of `update_neuron`, src/cpu/mod.rs.
struct Integration {
    r_new: f32,   // r after the countdown
    free: bool,   // r reached 0: the neuron integrates and may spike
    a: f32,       // V − V_rest at the start of the step
    i_eff: f32,   // Ĩ: the input if free, else 0
    v_star: f32,  // ((((V − V_rest) − R·Ĩ)·e_m) + V_rest) + R·Ĩ
}

fn integrate(p: NeuronParams, input: f32, v: f32, r: f32) -> Integration {
    var out: Integration;
    let v_rest = p.v_rest;
    let resistance = p.resistance;
    // 1. Refractory countdown; the neuron is free when r reaches 0.
    let r_dec = r - info.dt;
    out.r_new = select(0.0, r_dec, r_dec > 0.0);
    out.free = out.r_new == 0.0;
    // 2. Integration, V* = ((((V − V_rest) − R·Ĩ)·e_m) + V_rest) + R·Ĩ.
    out.i_eff = select(0.0, input, out.free);
    out.a = v - v_rest;
    let b = fma(-resistance, out.i_eff, out.a);
    let c = fma(b, p.decay_m, v_rest);
    out.v_star = fma(resistance, out.i_eff, c);
    return out;
}

// true: the GLIF2 voltage reset (V' − V_rest)·m_v + V_rest − b_v (GLIF2, GLIF4, GLIF5);
// false: V ← V_reset (LIF, GLIF1, ALIF, GLIF3).
override GLIF2: bool = false;

// Step 3's spike-triggered part: (θ_1 + … + θ_K) + Θ_∞, or Θ_∞ when K = 0.
// CPU twin: the lines under "3." of `update_neuron`.
fn threshold_sum(p: NeuronParams, st: ptr<function, NeuronState>) -> f32 {
    var thr = p.threshold;
    if K > 0u {
        var sum = (*st).th[0];
        for (var k = 1u; k < K; k++) {
            sum = sum + (*st).th[k];
        }
        thr = sum + thr;
    }
    return thr;
}

// Steps 4 and 5: spike when free and V' ≥ Θ, then reset (r ← t_ref and the model's voltage
// reset) or keep the integrated values. Returns the spike. CPU twin: "4." and "5.".
fn spike_and_reset(p: NeuronParams, free: bool, v_int: f32, r_new: f32, thr: f32,
                   st: ptr<function, NeuronState>) -> bool {
    let spike = free && v_int >= thr;
    if spike {
        (*st).r = p.t_ref;
        if GLIF2 {
            (*st).v = fma(v_int - p.v_rest, p.m_v, p.v_rest) - p.b_v;
        } else {
            (*st).v = p.v_reset;
        }
    } else {
        (*st).r = r_new;
        (*st).v = v_int;
    }
    return spike;
}

// Step 6: each θ_k held while `hold`, else decayed; a spike first scales it by r_k (1 by
// default: no change), then + d_k·s. CPU twin: "6.".
fn adapt_thresholds(n: u32, spike: bool, hold: bool, st: ptr<function, NeuronState>) {
    let s = select(0.0, 1.0, spike);
    for (var k = 0u; k < K; k++) {
        let ds = param(SLOT_DECAY_K + K + k, n) * s;
        var th = (*st).th[k];
        if spike {
            th = th * param(SLOT_DECAY_K + 2u * K + k, n);
        }
        if hold {
            (*st).th[k] = th + ds;
        } else {
            (*st).th[k] = fma(th, param(SLOT_DECAY_K + k, n), ds);
        }
    }
}
