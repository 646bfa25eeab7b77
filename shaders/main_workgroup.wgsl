// The step kernel's entry point, building spike words in workgroup memory (any adapter).
// Included after common.wgsl and the model's file; CPU twin of the word layout: src/frame.rs.
//
// Each invocation serves NPI neurons, one in each of the NPI consecutive blocks of 256 that
// its workgroup covers (see `block_of`), stepping them together so that their loads overlap.
// Block k's 8 spike words are wg_words[8k..8k + 8], which are words 8·block_of(wg, 0) + 8k…
// of the frame: the workgroup's 8·NPI words are consecutive.

var<workgroup> wg_words: array<atomic<u32>, 32>; // 8 · NPI_MAX

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let wg = wid.y * info.wg_x + wid.x;
    // A spare workgroup of the 2-D tiling (past the last invocation) has nothing to do; the
    // condition is the same for the whole workgroup, so the barriers below stay uniform.
    if block_of(wg, 0u) * 256u >= info.threads {
        return;
    }
    load_noise_table(lid);
    var l: array<Lane, NPI_MAX>;
    var st: array<NeuronState, NPI_MAX>;
    var carry: array<Carry, NPI_MAX>;
    var r_start: array<f32, NPI_MAX>;
    for (var k = 0u; k < NPI; k++) {
        // (WGSL passes pointers to whole variables only: each lane's state is copied in and
        // out of the arrays, which the driver keeps in registers.)
        var s: NeuronState;
        var c: Carry;
        l[k] = lane_of(block_of(wg, k), lid);
        begin_lane(l[k], &s, &c);
        st[k] = s;
        carry[k] = c;
        r_start[k] = s.r;
    }
    let nw = 8u * NPI;
    if lid < nw {
        atomicStore(&wg_words[lid], 0u);
    }
    workgroupBarrier();
    let word = block_of(wg, 0u) * 8u + lid;
    let end = dispatch.t0 + dispatch.count;
    for (var t = dispatch.t0; t < end; t++) {
        for (var k = 0u; k < NPI; k++) {
            var s = st[k];
            var c = carry[k];
            let spike = step_lane(l[k], t, end, &s, &c);
            st[k] = s;
            carry[k] = c;
            if spike {
                atomicOr(&wg_words[8u * k + lid / 32u], 1u << (lid % 32u));
            }
        }
        workgroupBarrier();
        // Each spike word is assembled in workgroup memory and written once.
        if lid < nw {
            if word < info.words {
                spikes[t * info.words + word] = atomicLoad(&wg_words[lid]);
            }
            atomicStore(&wg_words[lid], 0u);
        }
        workgroupBarrier();
    }
    // The refractory words for the next dispatch (wg_words are zero after the last step),
    // then the state, once (r only where it changed: most neurons are not refractory).
    for (var k = 0u; k < NPI; k++) {
        if l[k].live && st[k].r > 0.0 {
            atomicOr(&wg_words[8u * k + lid / 32u], 1u << (lid % 32u));
        }
        if l[k].live {
            store_state(l[k].idx, l[k].bn, st[k], r_start[k]);
        }
    }
    workgroupBarrier();
    if lid < nw && word < info.words {
        spikes[info.refr_base + word] = atomicLoad(&wg_words[lid]);
    }
}
