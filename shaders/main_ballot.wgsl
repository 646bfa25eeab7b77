// The step kernel's entry point, building each spike word with one subgroupBallot: no
// workgroup memory, no barriers. Used only where subgroups are 32 invocations laid out along
// the local index (probed at device creation, src/gpu/context.rs). Included after common.wgsl
// and the model's file; CPU twin of the word layout: src/frame.rs.
//
// Each invocation serves NPI neurons, one in each of the NPI consecutive blocks of 256 that
// its workgroup covers (see `block_of`), stepping them together so that their loads overlap.

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let wg = wid.y * info.wg_x + wid.x;
    // A spare workgroup of the 2-D tiling (past the last invocation) has nothing to do.
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
    let end = dispatch.t0 + dispatch.count;
    for (var t = dispatch.t0; t < end; t++) {
        for (var k = 0u; k < NPI; k++) {
            var s = st[k];
            var c = carry[k];
            let spike = step_lane(l[k], t, end, &s, &c);
            st[k] = s;
            carry[k] = c;
            let bits = subgroupBallot(spike).x;
            let word = l[k].id / 32u;
            if lid % 32u == 0u && word < info.words {
                spikes[t * info.words + word] = bits;
            }
        }
    }
    // The refractory words for the next dispatch, then the state, once (r only where it
    // changed: most neurons are not refractory).
    for (var k = 0u; k < NPI; k++) {
        let refr = subgroupBallot(l[k].live && st[k].r > 0.0).x;
        let word = l[k].id / 32u;
        if lid % 32u == 0u && word < info.words {
            spikes[info.refr_base + word] = refr;
        }
        if l[k].live {
            store_state(l[k].idx, l[k].bn, st[k], r_start[k]);
        }
    }
}
