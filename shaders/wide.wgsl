// Four neurons per invocation: the wide layout of the step kernel, for every model with at
// most one threshold component and two after-spike currents (K ≤ 1, J ≤ 2, θ_v or not: LIF,
// GLIF1 and GLIF3; ALIF, GLIF2, GLIF4 and GLIF5 with K = 1, the shape of the Allen Institute's
// fits), in shards whose neuron count is a multiple of 4 (the engine gives a population's
// partial last spike word to a lane shard), with any input (host-streamed, bias, schedule,
// noise). V, each state component, the host input and the noise cache move as one 16-byte
// vector per invocation, the access a plain copy kernel makes at full bandwidth (one float
// per invocation reached about three quarters of that on an H200: `glifsim bench`'s reference
// kernels), and the four neurons step together in vec4 arithmetic, with no arrays, so that
// nothing leaves the registers. Included after common.wgsl with an entry point
// (wide_ballot.wgsl or wide_workgroup.wgsl).
//
// CPU twin: `lanes` in src/cpu/vector.rs, which computes the same operations lane by lane
// with branches as selects (the same shapes: K ≤ 1, J ≤ 2, θ_v); component c of every vector
// here is also exactly what lane.wgsl and `update_neuron` (lif.wgsl, glif.wgsl,
// src/cpu/mod.rs) compute for neuron 4q + c, noise included. The tests hold this kernel to the CPU path bit for bit
// (tests/gpu.rs, `wide_*`).
//
// Invocation `id` covers trial `id / (n_pad / 4)` and neurons 4q … 4q + 3 of it, with
// q = id % (n_pad / 4); their spike bits are bits 4(id % 8) … 4(id % 8) + 3 of spike word
// id / 8 (n_pad / 4 is a multiple of 8, so a word never spans two trials).

// The parameters (common.wgsl's layout) as vectors: a per-neuron region starts on one.
@group(0) @binding(2) var<storage, read> params4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> inputs4: array<vec4<f32>>;      // [T][B][n / 4]
@group(0) @binding(4) var<storage, read_write> v4_buf: array<vec4<f32>>; // [B][n / 4]
// The state components θ_1 (K = 1), I_1 … I_J, θ_v, [NC][B][n / 4].
@group(0) @binding(6) var<storage, read_write> theta4_buf: array<vec4<f32>>;
// [3][B][n / 4]: words 1, 2 and 3 of the four neurons' Philox blocks (lane.wgsl's
// `noise_cache`, four neurons to a vector).
@group(0) @binding(9) var<storage, read_write> noise_cache4: array<vec4<u32>>;

// The neurons and trial of invocation `lid` of workgroup `wg`. CPU twin: the lane loop's
// block of `block` (src/cpu/vector.rs), 4 lanes instead of 32.
struct Wide {
    id: u32,      // global invocation index; spike word id / 8, nibble id % 8
    trial: u32,
    n: u32,       // first of its four neurons within the shard
    live: bool,   // real neurons, not padding (all four or none: n is a multiple of 4)
    idx: u32,     // index of its vector in the [B][n / 4] arrays
    bn: u32,      // B · n / 4
}

fn wide_of(wg: u32, lid: u32) -> Wide {
    var l: Wide;
    l.id = wg * 256u + lid;
    if ONE_TRIAL {
        l.trial = 0u;
        l.n = 4u * l.id;
    } else {
        l.trial = l.id / (info.n_pad / 4u);
        l.n = 4u * (l.id % (info.n_pad / 4u));
    }
    l.live = l.id < info.threads / 4u && l.n < info.n;
    l.idx = (l.trial * info.n + l.n) / 4u;
    l.bn = info.trials * info.n / 4u;
    return l;
}

// The parameters of the four neurons, component c from neuron n + c (one value splatted
// when the parameter is uniform). CPU twin: `Shared` and `PerLane`, src/cpu/vector.rs.
struct WideParams {
    v_rest: vec4<f32>,
    v_reset: vec4<f32>,
    threshold: vec4<f32>,
    t_ref: vec4<f32>,
    resistance: vec4<f32>,
    decay_m: vec4<f32>,
    m_v: vec4<f32>,         // GLIF2's voltage reset
    b_v: vec4<f32>,
    decay_k: vec4<f32>,     // θ_1's decay, increment and spike reset factor (K = 1)
    increment_k: vec4<f32>,
    keep_k: vec4<f32>,
    offset: vec4<f32>,   // drive: bias + noise mean
    gain: vec4<f32>,     // drive: noise gain
}

// Value i of the parameters.
fn param_at(i: u32) -> f32 {
    return params4[i >> 2u][i & 3u];
}

// Parameter `slot` of neurons n … n + 3 (n a multiple of 4): one 16-byte load where it is per
// neuron, one value splatted where it is shared. CPU twin: `LaneParams::get`.
fn wide_param(slot: u32, n: u32) -> vec4<f32> {
    if per_neuron(slot) {
        return params4[(region(slot) + n) >> 2u];
    }
    return vec4<f32>(param_at(slot));
}

fn wide_params(n: u32) -> WideParams {
    var p: WideParams;
    p.v_rest = wide_param(SLOT_V_REST, n);
    p.v_reset = wide_param(SLOT_V_RESET, n);
    p.threshold = wide_param(SLOT_THRESHOLD, n);
    p.t_ref = wide_param(SLOT_T_REF, n);
    p.resistance = wide_param(SLOT_RESISTANCE, n);
    p.decay_m = wide_param(SLOT_DECAY_M, n);
    if GLIF2 {
        p.m_v = wide_param(SLOT_M_V, n);
        p.b_v = wide_param(SLOT_B_V, n);
    }
    if K == 1u {
        p.decay_k = wide_param(SLOT_DECAY_K, n);
        p.increment_k = wide_param(SLOT_DECAY_K + 1u, n);
        p.keep_k = wide_param(SLOT_DECAY_K + 2u, n);
    }
    p.offset = wide_param(SLOT_OFFSET, n);
    p.gain = wide_param(SLOT_GAIN, n);
    return p;
}

// V, r and the state components of the four neurons: θ_1 (K = 1), I_1 and I_2 (J ≥ 1, 2),
// θ_v (THETA_V).
struct WideState {
    v: vec4<f32>,
    r: vec4<f32>,
    th: vec4<f32>,
    i1: vec4<f32>,
    i2: vec4<f32>,
    thv: vec4<f32>,
}

// The refractory bits of the invocation's neurons (bit c: neuron n + c has r > 0): nibble
// id % 8 of refractory word id / 8.
fn refractory_nibble(id: u32) -> u32 {
    return (spikes[info.refr_base + id / 8u] >> (4u * (id % 8u))) & 0xfu;
}

// V and each state component as one vector; r only where a refractory bit of the four is set
// (most neurons have r = 0). Twin of `load_state` in lane.wgsl.
fn load_wide(l: Wide, nibble: u32) -> WideState {
    var st: WideState;
    st.v = v4_buf[l.idx];
    if K == 1u {
        st.th = theta4_buf[l.idx];
    }
    if J >= 1u {
        st.i1 = theta4_buf[K * l.bn + l.idx];
    }
    if J >= 2u {
        st.i2 = theta4_buf[(K + 1u) * l.bn + l.idx];
    }
    if THETA_V {
        st.thv = theta4_buf[(K + J) * l.bn + l.idx];
    }
    // r is stored exactly for every neuron (0 when free), so reading all four when any is
    // refractory gives the same values as reading only those: one branch instead of four.
    st.r = vec4<f32>(0.0);
    let i = 4u * l.idx;
    if nibble != 0u {
        st.r = vec4<f32>(r_buf[i], r_buf[i + 1u], r_buf[i + 2u], r_buf[i + 3u]);
    }
    return st;
}

// Store V and each state component as one vector, and r where it changed. Twin of
// `store_state` in lane.wgsl.
fn store_wide(l: Wide, st: WideState, r_start: vec4<f32>) {
    v4_buf[l.idx] = st.v;
    if K == 1u {
        theta4_buf[l.idx] = st.th;
    }
    if J >= 1u {
        theta4_buf[K * l.bn + l.idx] = st.i1;
    }
    if J >= 2u {
        theta4_buf[(K + 1u) * l.bn + l.idx] = st.i2;
    }
    if THETA_V {
        theta4_buf[(K + J) * l.bn + l.idx] = st.thv;
    }
    let i = 4u * l.idx;
    if st.r.x != r_start.x {
        r_buf[i] = st.r.x;
    }
    if st.r.y != r_start.y {
        r_buf[i + 1u] = st.r.y;
    }
    if st.r.z != r_start.z {
        r_buf[i + 2u] = st.r.z;
    }
    if st.r.w != r_start.w {
        r_buf[i + 3u] = st.r.w;
    }
}

// The host-streamed input of step t (0 without host input). Twin of `host_input`.
fn wide_host_input(idx: u32, t: u32) -> vec4<f32> {
    if HOST_INPUT && (dispatch.flags & FLAG_NO_HOST) == 0u {
        return inputs4[t * info.trials * info.n / 4u + idx];
    }
    return vec4<f32>(0.0);
}

// The noise words of the four neurons for the steps of one quad: component c of `wk` is
// word k of neuron n + c's Philox block (the blocks transposed, so that a step takes one
// vector).
struct WideNoise {
    w0: vec4<u32>,
    w1: vec4<u32>,
    w2: vec4<u32>,
    w3: vec4<u32>,
}

// The four blocks of the quad of step `si`. Twin of `noise_block` (common.wgsl).
fn wide_noise_blocks(l: Wide, si: StepInfo) -> WideNoise {
    let b0 = noise_block(l.trial, l.n, si);
    let b1 = noise_block(l.trial, l.n + 1u, si);
    let b2 = noise_block(l.trial, l.n + 2u, si);
    let b3 = noise_block(l.trial, l.n + 3u, si);
    var q: WideNoise;
    q.w0 = vec4<u32>(b0.x, b1.x, b2.x, b3.x);
    q.w1 = vec4<u32>(b0.y, b1.y, b2.y, b3.y);
    q.w2 = vec4<u32>(b0.z, b1.z, b2.z, b3.z);
    q.w3 = vec4<u32>(b0.w, b1.w, b2.w, b3.w);
    return q;
}

// Word w of the quad (w is the same for every invocation of a dispatch).
fn wide_noise_word(q: WideNoise, w: u32) -> vec4<u32> {
    return select(select(q.w0, q.w1, w == 1u), select(q.w2, q.w3, w == 3u), w >= 2u);
}

// The input currents of a step: (host + (bias + mean)) + schedule, plus noise. Twin of
// `input_current` (common.wgsl), component by component.
fn wide_input(p: WideParams, host: vec4<f32>, si: StepInfo, words: vec4<u32>) -> vec4<f32> {
    var current = (host + p.offset) + si.sched;
    if NOISE {
        let z = vec4<f32>(noise_value(words.x), noise_value(words.y), noise_value(words.z),
                          noise_value(words.w));
        current = fma(z, p.gain, current);
    }
    return current;
}

// `update_neuron` for K ≤ 1 and J ≤ 2 on the four neurons `n` … `n` + 3: the refractory
// countdown and the integration (plus c_j·I_j), the spike against θ_1 + Θ_∞ + θ_v, the model's
// reset, θ_1's adaptation, θ_v and the after-spike currents. Returns the spikes. CPU twin: the
// body of `lanes`'s loop (src/cpu/vector.rs); for each component, `integrate`,
// `threshold_sum`, `spike_and_reset`, `adapt_thresholds` (common.wgsl) and the steps of
// glif.wgsl. The currents' and θ_v's parameters are read where used, as glif.wgsl does.
fn wide_update(n: u32, p: WideParams, input: vec4<f32>, lock: bool, freeze: bool,
               st: ptr<function, WideState>) -> vec4<bool> {
    let zero = vec4<f32>(0.0);
    // 1. Refractory countdown; the neuron is free when r reaches 0.
    let r_dec = (*st).r - info.dt;
    let r_new = select(zero, r_dec, r_dec > zero);
    let free = r_new == zero;
    // 2. Integration, V* = ((((V − V_rest) − R·Ĩ)·e_m) + V_rest) + R·Ĩ, then + c_j·I_j.
    let i_eff = select(zero, input, free);
    let v = (*st).v;
    let a = v - p.v_rest;
    let b = fma(-p.resistance, i_eff, a);
    let c = fma(b, p.decay_m, p.v_rest);
    var v_star = fma(p.resistance, i_eff, c);
    let i1 = (*st).i1;
    let i2 = (*st).i2;
    if J >= 1u {
        v_star = fma(wide_param(slot_asc_gain(0u), n), i1, v_star);
    }
    if J >= 2u {
        v_star = fma(wide_param(slot_asc_gain(1u), n), i2, v_star);
    }
    let v_int = select(v_star, v, vec4<bool>(lock) & !free);
    // 3. Threshold from the start of the step: (θ_1 + Θ_∞) + θ_v, θ_1 and θ_v where present.
    var thr = p.threshold;
    if K == 1u {
        thr = (*st).th + p.threshold;
    }
    if THETA_V {
        thr = thr + (*st).thv;
    }
    // 4. Spike when free and V' ≥ Θ.
    let spike = free & (v_int >= thr);
    // 5. Reset: r ← t_ref and the model's voltage reset, or keep the integrated values.
    var v_spiked = p.v_reset;
    if GLIF2 {
        v_spiked = fma(v_int - p.v_rest, p.m_v, p.v_rest) - p.b_v;
    }
    (*st).v = select(v_int, v_spiked, spike);
    (*st).r = select(r_new, p.t_ref, spike);
    // 6. Adaptation: θ_1 held while the lock is on and r > 0, else decayed; a spike first
    // scales it by r_1, then + d_1·s.
    let hold = vec4<bool>(lock) & ((*st).r > zero);
    if K == 1u && !freeze {
        let s = select(zero, vec4<f32>(1.0), spike);
        let ds = p.increment_k * s;
        let th = select((*st).th, (*st).th * p.keep_k, spike);
        (*st).th = select(fma(th, p.decay_k, ds), th + ds, hold);
    }
    // 7. θ_v (GLIF5), integrated exactly from the start-of-step u = a, w = R·Ĩ and I_j; held
    //    like θ.
    if THETA_V && !freeze {
        let w = p.resistance * i_eff;
        var acc = (*st).thv * wide_param(slot_thv(0u), n);
        acc = fma(a, wide_param(slot_thv(1u), n), acc);
        acc = fma(w, wide_param(slot_thv(2u), n), acc);
        if J >= 1u {
            acc = fma(wide_param(slot_thv(3u), n), i1, acc);
        }
        if J >= 2u {
            acc = fma(wide_param(slot_thv(4u), n), i2, acc);
        }
        (*st).thv = select(acc, (*st).thv, hold);
    }
    // 8. After-spike currents: held while the lock is on and r > 0, else decayed; on a spike
    //    I_j ← f_j·I_j + δI_j.
    if J >= 1u {
        let held = select(i1 * wide_param(slot_asc_decay(0u), n), i1, hold);
        let kicked = fma(wide_param(slot_asc_keep(0u), n), held, wide_param(slot_asc_amp(0u), n));
        (*st).i1 = select(held, kicked, spike);
    }
    if J >= 2u {
        let held = select(i2 * wide_param(slot_asc_decay(1u), n), i2, hold);
        let kicked = fma(wide_param(slot_asc_keep(1u), n), held, wide_param(slot_asc_amp(1u), n));
        (*st).i2 = select(held, kicked, spike);
    }
    return spike;
}

// Bit j of the low byte of `b` moved to bit 4j (j = 0…7): the spike bits of eight lanes of one
// component spread to their places in a spike word.
fn spread_nibbles(b: u32) -> u32 {
    var x = b & 0xffu;
    x = (x | (x << 12u)) & 0x000f000fu;
    x = (x | (x << 6u)) & 0x03030303u;
    x = (x | (x << 3u)) & 0x11111111u;
    return x;
}

// The four spike bits of one invocation as a nibble (bit c: neuron n + c).
fn nibble_of(s: vec4<bool>) -> u32 {
    return select(0u, 1u, s.x) | select(0u, 2u, s.y) | select(0u, 4u, s.z) | select(0u, 8u, s.w);
}

// What one invocation carries from step to step of a dispatch besides its neurons' state.
// Twin of `Carry` (lane.wgsl).
struct WideCarry {
    p: WideParams,          // the four neurons' parameters, loaded once
    next_host: vec4<f32>,   // the next step's host input, loaded one step ahead
    noise: WideNoise,       // the noise blocks of the current quad of steps
    drawn: bool,            // `noise` was drawn by this dispatch (else its words are cached)
}

// Before the first step: the state and parameters, once, and the first step's host input.
// Twin of `begin_lane`.
fn begin_wide(l: Wide, st: ptr<function, WideState>, carry: ptr<function, WideCarry>) {
    (*carry).drawn = false;
    if l.live {
        // The loads that do not depend on the refractory nibble first, so that none of them
        // waits behind the branches on it (1.04× at 1M, 1.10× at 16M per step on an H200,
        // with one branch for r below).
        (*carry).next_host = wide_host_input(l.idx, dispatch.t0);
        (*carry).p = wide_params(l.n);
        *st = load_wide(l, refractory_nibble(l.id));
    }
}

// One step t of the four neurons: the noise blocks when a quad of steps begins (or the
// dispatch does, unless they are cached), the input currents and the update. Returns the
// spikes (none for padding). Twin of `step_lane`.
fn step_wide(l: Wide, t: u32, end: u32, st: ptr<function, WideState>,
             carry: ptr<function, WideCarry>) -> vec4<bool> {
    if !l.live {
        return vec4<bool>(false);
    }
    let si = step_info(t);
    let w = si.step_lo & 3u;
    if draws_noise(t, w) {
        (*carry).noise = wide_noise_blocks(l, si);
        (*carry).drawn = true;
    }
    // The next step's input is loaded before this step's arithmetic (prefetch).
    let host = (*carry).next_host;
    if t + 1u < end {
        (*carry).next_host = wide_host_input(l.idx, t + 1u);
    }
    var words = wide_noise_word((*carry).noise, w);
    if NOISE_CACHE && !(*carry).drawn {
        // This quad's blocks were drawn by an earlier dispatch (w ≥ 1 here).
        words = noise_cache4[(w - 1u) * l.bn + l.idx];
    }
    let input = wide_input((*carry).p, host, si, words);
    let lock = (dispatch.flags & FLAG_LOCK) != 0u;
    let freeze = (dispatch.flags & FLAG_FREEZE) != 0u;
    return wide_update(l.n, (*carry).p, input, lock, freeze, st);
}

// After the last step: the state, and the noise cache when the dispatch ends inside a quad
// whose blocks it drew. Twin of `store_state` and `end_lane`.
fn end_wide(l: Wide, st: WideState, r_start: vec4<f32>, carry: WideCarry, end: u32) {
    if !l.live {
        return;
    }
    store_wide(l, st, r_start);
    if carry.drawn && keeps_noise(end) {
        noise_cache4[l.idx] = carry.noise.w1;
        noise_cache4[l.bn + l.idx] = carry.noise.w2;
        noise_cache4[2u * l.bn + l.idx] = carry.noise.w3;
    }
}
