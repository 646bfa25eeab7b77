// The step kernel's entry point where the adapter has subgroups laid out along the local index
// (probed at device creation, src/gpu/context.rs). Where the subgroups this pipeline runs with
// are a multiple of 32 invocations wide, up to 128 (32 on NVIDIA and Apple GPUs, 64 on AMD's
// wave64), each spike word comes from one subgroupBallot: no workgroup memory, no barriers in
// the loop. Narrower subgroups (8 or 16: lavapipe, Intel) cover only part of a word, and the
// words are built in workgroup memory as in main_workgroup.wgsl. The width is read here, at
// run time, not taken from the probe: a driver may give each pipeline its own subgroup size
// (DX12 on AMD and Intel chooses it per shader). Included after common.wgsl, lane.wgsl and the
// model's file; CPU twin of the word layout: src/frame.rs.

// Whether this workgroup's subgroups build words by ballot, as a workgroup-uniform value
// (the barriers of the other branch need one).
var<workgroup> wg_by_ballot: u32;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_size) sg_size: u32, @builtin(subgroup_invocation_id) sg_id: u32) {
    let wg = wid.y * info.wg_x + wid.x;
    // A spare workgroup of the 2-D tiling (past the last invocation) has nothing to do; the
    // condition is the same for the whole workgroup, so the barriers below stay uniform.
    if wg * 256u >= info.threads {
        return;
    }
    if lid == 0u {
        wg_by_ballot = select(0u, 1u, sg_size % 32u == 0u && sg_size <= 128u);
    }
    let by_ballot = workgroupUniformLoad(&wg_by_ballot) == 1u;
    let l = lane_of(wg, lid);
    var st: NeuronState;
    var carry: Carry;
    begin_lane(l, &st, &carry);
    let r_start = st.r;
    // By ballot, a subgroup of S invocations covers S / 32 words; its invocation k < S / 32
    // writes word k of them, from component k of the ballot. Its first invocation is l.id − sg_id.
    let writes = sg_id < sg_size / 32u;
    let word = (l.id - sg_id) / 32u + sg_id;
    if !by_ballot {
        clear_words(lid);
    }
    let end = dispatch_end();
    for (var t = dispatch.t0; t < end; t++) {
        let spike = step_lane(l, t, end, &st, &carry);
        if by_ballot {
            let bits = subgroupBallot(spike);
            if writes && word < info.words {
                spikes[t * info.words + word] = bits[sg_id];
            }
        } else {
            workgroup_words(wg, lid, spike, t * info.words);
        }
    }
    // The refractory words for the next dispatch, then the state, once (r only where it
    // changed: most neurons are not refractory).
    let refr = l.live && st.r > 0.0;
    if by_ballot {
        let bits = subgroupBallot(refr);
        if writes && word < info.words {
            spikes[info.refr_base + word] = bits[sg_id];
        }
    } else {
        workgroup_words(wg, lid, refr, info.refr_base);
    }
    if l.live {
        store_state(l.idx, l.bn, st, r_start);
    }
    end_lane(l, carry, end);
}
