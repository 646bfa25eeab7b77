// The step kernel's entry point, building spike words in workgroup memory (any adapter).
// Included after common.wgsl and the model's file; CPU twin of the word layout: src/frame.rs.

var<workgroup> wg_words: array<atomic<u32>, 8>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let wg = wid.y * info.wg_x + wid.x;
    // A spare workgroup of the 2-D tiling (past the last invocation) has nothing to do; the
    // condition is the same for the whole workgroup, so the barriers below stay uniform.
    if wg * 256u >= info.threads {
        return;
    }
    let l = lane_of(wg, lid);
    var st: NeuronState;
    var carry: Carry;
    begin_lane(l, &st, &carry);
    let r_start = st.r;
    if lid < 8u {
        atomicStore(&wg_words[lid], 0u);
    }
    workgroupBarrier();
    let word = wg * 8u + lid;
    let end = dispatch.t0 + dispatch.count;
    for (var t = dispatch.t0; t < end; t++) {
        let spike = step_lane(l, t, end, &st, &carry);
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
    // The refractory words for the next dispatch (wg_words are zero after the last step),
    // then the state, once (r only where it changed: most neurons are not refractory).
    if l.live && st.r > 0.0 {
        atomicOr(&wg_words[lid / 32u], 1u << (lid % 32u));
    }
    workgroupBarrier();
    if lid < 8u && word < info.words {
        spikes[info.refr_base + word] = atomicLoad(&wg_words[lid]);
    }
    if l.live {
        store_state(l.idx, l.bn, st, r_start);
    }
    end_lane(l, carry, end);
}
