// One neuron per invocation: the lane layout of the step kernel (any model, any input). The
// state, host-input and noise-cache bindings, the state's load and store, and one step of one
// invocation. Included after common.wgsl with the model's file and an entry point
// (main_ballot.wgsl or main_workgroup.wgsl). CPU twin: `update_neuron` and the per-step body
// of `CpuSim::advance`, src/cpu/mod.rs. (wide.wgsl is the four-neurons-per-invocation layout,
// for K ≤ 1 and J ≤ 2.)
//
// Invocation `id` covers trial `id / n_pad`, neuron `id % n_pad`; its spike bit is bit
// id % 32 of spike word id / 32.

@group(0) @binding(2) var<storage, read> params: array<f32>;      // common.wgsl's layout
@group(0) @binding(3) var<storage, read> inputs: array<f32>;      // [T][B][n]
@group(0) @binding(4) var<storage, read_write> v_buf: array<f32>; // [B][n]
@group(0) @binding(6) var<storage, read_write> theta_buf: array<f32>; // [NC][B][n]
// [3][B][n]: words 1, 2 and 3 of each neuron's Philox block of the quad of steps that the last
// dispatch ended inside, so that the next dispatch, starting inside that quad, need not draw
// it again (one dispatch per step would otherwise draw every block four times).
@group(0) @binding(9) var<storage, read_write> noise_cache: array<u32>;

// Value i of the parameters (common.wgsl's layout).
fn param_at(i: u32) -> f32 {
    return params[i];
}

// The host-streamed input of step t (0 without host input).
fn host_input(idx: u32, t: u32) -> f32 {
    if HOST_INPUT && (dispatch.flags & FLAG_NO_HOST) == 0u {
        return inputs[t * info.trials * info.n + idx];
    }
    return 0.0;
}

// Spike words assembled in workgroup memory (main_workgroup.wgsl, and main_ballot.wgsl where
// the subgroups are narrower than a word): the bits of a workgroup's 256 invocations, 8 words.
var<workgroup> wg_words: array<atomic<u32>, 8>;

// Before the first step: the words start at 0. Call in workgroup-uniform control flow.
fn clear_words(lid: u32) {
    if lid < 8u {
        atomicStore(&wg_words[lid], 0u);
    }
    workgroupBarrier();
}

// One row of spike words: each invocation sets its bit, then invocation k < 8 of workgroup
// `wg` writes word 8·wg + k to `spikes[row + 8·wg + k]` and clears it for the next row. Call
// in workgroup-uniform control flow. CPU twin of the word layout: src/frame.rs.
fn workgroup_words(wg: u32, lid: u32, bit: bool, row: u32) {
    if bit {
        atomicOr(&wg_words[lid / 32u], 1u << (lid % 32u));
    }
    workgroupBarrier();
    if lid < 8u {
        let word = wg * 8u + lid;
        if word < info.words {
            spikes[row + word] = atomicLoad(&wg_words[lid]);
        }
        atomicStore(&wg_words[lid], 0u);
    }
    workgroupBarrier();
}

// The neuron and trial of invocation `lid` of workgroup `wg` (both entry points).
struct Lane {
    id: u32,      // global invocation index: trial * n_pad + n; spike word id / 32
    trial: u32,
    n: u32,       // neuron within the shard
    live: bool,   // a real neuron, not padding
    idx: u32,     // its index in the [B][n] state arrays
    bn: u32,      // B · n
}

fn lane_of(wg: u32, lid: u32) -> Lane {
    var l: Lane;
    l.id = wg * 256u + lid;
    if ONE_TRIAL {
        l.trial = 0u;
        l.n = l.id;
    } else {
        l.trial = l.id / info.n_pad;
        l.n = l.id % info.n_pad;
    }
    l.live = l.id < info.threads && l.n < info.n;
    l.idx = l.trial * info.n + l.n;
    l.bn = info.trials * info.n;
    return l;
}

// What one invocation carries from step to step of a dispatch besides its neuron's state.
struct Carry {
    p: NeuronParams,      // its parameters, loaded once
    next_host: f32,       // the next step's host input, loaded one step ahead
    noise: vec4<u32>,     // the noise block of the current quad of steps
    drawn: bool,          // `noise` was drawn by this dispatch (else its words are cached)
}

// One step t of one invocation (both entry points): the noise block when a quad of steps
// begins (or the dispatch does), the input current, and `update_neuron`. Returns the spike.
// CPU twin: the per-step body of `CpuSim::advance` (a new noise block every fourth step).
fn step_lane(l: Lane, t: u32, end: u32, st: ptr<function, NeuronState>,
             carry: ptr<function, Carry>) -> bool {
    let si = step_info(t);
    let w = si.step_lo & 3u;
    if draws_noise(t, w) {
        (*carry).noise = noise_block(l.trial, l.n, si);
        (*carry).drawn = true;
    }
    if !l.live {
        return false;
    }
    // The next step's input is loaded before this step's arithmetic (prefetch).
    let host = (*carry).next_host;
    if t + 1u < end {
        (*carry).next_host = host_input(l.idx, t + 1u);
    }
    var word = (*carry).noise[w];
    if NOISE_CACHE && !(*carry).drawn {
        // This quad's block was drawn by an earlier dispatch (w ≥ 1 here).
        word = noise_cache[(w - 1u) * l.bn + l.idx];
    }
    let input = input_current((*carry).p, host, si, word);
    let lock = (dispatch.flags & FLAG_LOCK) != 0u;
    let freeze = (dispatch.flags & FLAG_FREEZE) != 0u;
    return update_neuron(l.n, (*carry).p, input, lock, freeze, st);
}

// Before the first step: the neuron's state and parameters, once, and the first step's host
// input.
fn begin_lane(l: Lane, st: ptr<function, NeuronState>, carry: ptr<function, Carry>) {
    (*carry).drawn = false;
    if l.live {
        // The loads that do not depend on the refractory bit first (as in `begin_wide`).
        (*carry).next_host = host_input(l.idx, dispatch.t0);
        (*carry).p = load_params(l.n);
        *st = load_state(l.idx, l.bn, refractory_bit(l.id));
    }
}

// After the last step: when the dispatch ends inside a quad whose block it drew, words 1–3 of
// the block for the next dispatch (`keeps_noise`).
fn end_lane(l: Lane, carry: Carry, end: u32) {
    if l.live && carry.drawn && keeps_noise(end) {
        noise_cache[l.idx] = carry.noise.y;
        noise_cache[l.bn + l.idx] = carry.noise.z;
        noise_cache[2u * l.bn + l.idx] = carry.noise.w;
    }
}

// Whether invocation `id`'s neuron is refractory (r > 0) at the start of the dispatch: bit
// id % 32 of refractory word id / 32 (the 32 invocations of a word read the same one).
fn refractory_bit(id: u32) -> bool {
    return ((spikes[info.refr_base + id / 32u] >> (id % 32u)) & 1u) == 1u;
}

// Load one neuron's state (V, r and the NC components) from the [NC][B][n] buffers; r is
// read only where the refractory bit says it is not 0.
fn load_state(idx: u32, bn: u32, refractory: bool) -> NeuronState {
    var st: NeuronState;
    st.v = v_buf[idx];
    st.r = 0.0;
    if refractory {
        st.r = r_buf[idx];
    }
    for (var k = 0u; k < NC; k++) {
        st.th[k] = theta_buf[k * bn + idx];
    }
    return st;
}

// Store it back; r only where it changed (most neurons are not refractory).
fn store_state(idx: u32, bn: u32, st: NeuronState, r_start: f32) {
    v_buf[idx] = st.v;
    if st.r != r_start {
        r_buf[idx] = st.r;
    }
    for (var k = 0u; k < NC; k++) {
        theta_buf[k * bn + idx] = st.th[k];
    }
}
