// The step kernel's entry point, building each spike word with one subgroupBallot: no
// workgroup memory, no barriers. Used only where subgroups are 32 invocations laid out along
// the local index (probed at device creation, src/gpu/context.rs). Included after common.wgsl
// and the model's file; CPU twin of the word layout: src/frame.rs.

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
    let word = wg * 8u + lid / 32u;
    let end = dispatch.t0 + dispatch.count;
    for (var t = dispatch.t0; t < end; t++) {
        let spike = step_lane(l, t, end, &st, &carry);
        let bits = subgroupBallot(spike).x;
        if lid % 32u == 0u && word < info.words {
            spikes[t * info.words + word] = bits;
        }
    }
    // The refractory words for the next dispatch, then the state, once (r only where it
    // changed: most neurons are not refractory).
    let refr = subgroupBallot(l.live && st.r > 0.0).x;
    if lid % 32u == 0u && word < info.words {
        spikes[info.refr_base + word] = refr;
    }
    if l.live {
        store_state(l.idx, l.bn, st, r_start);
    }
    end_lane(l, carry, end);
}
