// The step kernel's entry point, building spike words in workgroup memory (any adapter).
// Included after common.wgsl and the model's file; CPU twin of the word layout: src/frame.rs.

var<workgroup> wg_words: array<atomic<u32>, 8>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let wg = wid.y * info.wg_x + wid.x;
    let id = wg * 256u + lid;
    let trial = id / info.n_pad;
    let n = id % info.n_pad;
    let live = id < info.threads && n < info.n;
    let idx = trial * info.n + n;
    let bn = info.trials * info.n;
    // Load the state once.
    var st: NeuronState;
    var next_host = 0.0;
    if live {
        st = load_state(idx, bn);
        next_host = host_input(idx, dispatch.t0);
    }
    let r_start = st.r;
    if lid < 8u {
        atomicStore(&wg_words[lid], 0u);
    }
    workgroupBarrier();
    let word = wg * 8u + lid;
    let end = dispatch.t0 + dispatch.count;
    for (var t = dispatch.t0; t < end; t++) {
        let si = step_info(t);
        var spike = false;
        if live {
            // The next step's input is loaded before this step's arithmetic (prefetch).
            let host = next_host;
            if t + 1u < end {
                next_host = host_input(idx, t + 1u);
            }
            let input = input_current(trial, n, host, si);
            let lock = (dispatch.flags & FLAG_LOCK) != 0u;
            let freeze = (dispatch.flags & FLAG_FREEZE) != 0u;
            spike = update_neuron(n, input, lock, freeze, &st);
        }
        if spike {
            atomicOr(&wg_words[lid / 32u], 1u << (lid % 32u));
        }
        workgroupBarrier();
        // Each spike word is assembled in workgroup memory and written once.
        if lid < 8u {
            if word < info.words {
                spikes[t * info.words + word] = atomicLoad(&wg_words[lid]);
            }
            atomicStore(&wg_words[lid], 0u);
        }
        workgroupBarrier();
    }
    // Store the state once (r only where it changed: most neurons are not refractory).
    if live {
        store_state(idx, bn, st, r_start);
    }
}
