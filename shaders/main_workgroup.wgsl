// The step kernel's entry point, building spike words in workgroup memory (any adapter:
// `workgroup_words`, lane.wgsl). Included after common.wgsl, lane.wgsl and the model's file;
// CPU twin of the word layout: src/frame.rs.

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
    clear_words(lid);
    let end = dispatch_end();
    for (var t = dispatch.t0; t < end; t++) {
        let spike = step_lane(l, t, end, &st, &carry);
        workgroup_words(wg, lid, spike, t * info.words);
    }
    // The refractory words for the next dispatch, then the state, once (r only where it
    // changed: most neurons are not refractory).
    workgroup_words(wg, lid, l.live && st.r > 0.0, info.refr_base);
    if l.live {
        store_state(l.idx, l.bn, st, r_start);
    }
    end_lane(l, carry, end);
}
