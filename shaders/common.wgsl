// Shared by every step kernel: bindings, parameter access and the spike-word packing.
// CPU twin: src/cpu.rs (`P::at` for `param`, the frame layout of src/frame.rs for `main`).
//
// One invocation per (trial, neuron). The shard's neurons are padded to a multiple of 32
// (`n_pad`), so invocation `id` covers trial `id / n_pad`, neuron `id % n_pad`, and spike
// word `id / 32` is word `trial * W + neuron / 32` of the [B][W] frame.

struct Info {
    n: u32,            // neurons in this shard
    n_pad: u32,        // n rounded up to a multiple of 32
    trials: u32,       // B
    k: u32,            // threshold components
    wg_x: u32,         // workgroups along x (dispatches are tiled in x and y)
    threads: u32,      // trials * n_pad
    words: u32,        // trials * n_pad / 32: spike words per step
    _pad0: u32,
    dt: f32,
    _pad1: f32,
    _pad2: f32,
    _pad3: f32,
    // Parameter slot s: offset into `params` | (1 << 31) when it has one value per neuron.
    slots: array<vec4<u32>, 12>,
}

struct StepInfo {
    t: u32,       // step index inside the chunk: selects the input row and the spike row
    flags: u32,   // FLAG_LOCK | FLAG_FREEZE
    _pad0: u32,
    _pad1: u32,
}

const FLAG_LOCK: u32 = 1u;
const FLAG_FREEZE: u32 = 2u;

// Parameter slots, in the order of `Population::param_list`.
const SLOT_V_REST: u32 = 0u;
const SLOT_V_RESET: u32 = 1u;
const SLOT_THRESHOLD: u32 = 2u;
const SLOT_T_REF: u32 = 3u;
const SLOT_RESISTANCE: u32 = 4u;
const SLOT_DECAY_M: u32 = 5u;
const SLOT_M_V: u32 = 6u;
const SLOT_B_V: u32 = 7u;
const SLOT_DECAY_K: u32 = 8u;       // + k
// SLOT_INCREMENT_K = 8 + K + k

@group(0) @binding(0) var<uniform> info: Info;
@group(0) @binding(1) var<uniform> step_info: StepInfo;
@group(0) @binding(2) var<storage, read> params: array<f32>;
@group(0) @binding(3) var<storage, read> inputs: array<f32>;      // [T][B][n]
@group(0) @binding(4) var<storage, read_write> v_buf: array<f32>; // [B][n]
@group(0) @binding(5) var<storage, read_write> r_buf: array<f32>; // [B][n]
@group(0) @binding(6) var<storage, read_write> theta_buf: array<f32>; // [K][B][n]
@group(0) @binding(7) var<storage, read_write> spikes: array<u32>; // [T][B][W]

// CPU twin: `P::at`.
fn param(slot: u32, n: u32) -> f32 {
    let s = info.slots[slot / 4u][slot % 4u];
    let off = s & 0x7fffffffu;
    if (s >> 31u) == 1u {
        return params[off + n];
    }
    return params[off];
}

var<workgroup> wg_words: array<atomic<u32>, 8>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if lid < 8u {
        atomicStore(&wg_words[lid], 0u);
    }
    workgroupBarrier();
    let wg = wid.y * info.wg_x + wid.x;
    let id = wg * 256u + lid;
    let trial = id / info.n_pad;
    let n = id % info.n_pad;
    if id < info.threads && n < info.n {
        if step_neuron(trial, n) {
            atomicOr(&wg_words[lid / 32u], 1u << (lid % 32u));
        }
    }
    workgroupBarrier();
    // Each spike word is assembled in workgroup memory and written once.
    let word = wg * 8u + lid;
    if lid < 8u && word < info.words {
        spikes[step_info.t * info.words + word] = atomicLoad(&wg_words[lid]);
    }
}
