// The wide kernel's entry point (four neurons per invocation, wide.wgsl), building the spike
// words with four subgroupBallots per step (one per vector component): no workgroup memory,
// no barriers. Used where subgroups of S invocations, S a multiple of 8 up to 128, are laid
// out along the local index (probed at device creation, src/gpu/context.rs): a subgroup then
// covers 4·S neurons, S / 8 spike words, and its invocation k < S / 8 assembles word k from
// byte k of each ballot (S = 32 on NVIDIA, 8 on lavapipe, where the tests run this).
// Twin of main_ballot.wgsl; CPU twin of the word layout: src/frame.rs.

// Word k of a subgroup's words from the ballots of the four components: bit j of byte k of
// ballot c (lane 8k + j's neuron c) goes to bit 4j + c.
fn wide_word(k: u32, b0: vec4<u32>, b1: vec4<u32>, b2: vec4<u32>, b3: vec4<u32>) -> u32 {
    let at = k / 4u;
    let shift = 8u * (k % 4u);
    return spread_nibbles(b0[at] >> shift)
        | (spread_nibbles(b1[at] >> shift) << 1u)
        | (spread_nibbles(b2[at] >> shift) << 2u)
        | (spread_nibbles(b3[at] >> shift) << 3u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_size) sg_size: u32, @builtin(subgroup_invocation_id) sg_id: u32) {
    let wg = wid.y * info.wg_x + wid.x;
    // A spare workgroup of the 2-D tiling (past the last invocation) has nothing to do.
    if wg * 256u >= info.threads / 4u {
        return;
    }
    let l = wide_of(wg, lid);
    var st: WideState;
    var carry: WideCarry;
    begin_wide(l, &st, &carry);
    let r_start = st.r;
    // The subgroup's first invocation is l.id − sg_id; this invocation writes word sg_id of
    // its words (when sg_id < S / 8).
    let writes = sg_id < sg_size / 8u;
    let word = (l.id - sg_id) / 8u + sg_id;
    let end = dispatch_end();
    for (var t = dispatch.t0; t < end; t++) {
        let spike = step_wide(l, t, end, &st, &carry);
        let b0 = subgroupBallot(spike.x);
        let b1 = subgroupBallot(spike.y);
        let b2 = subgroupBallot(spike.z);
        let b3 = subgroupBallot(spike.w);
        if writes && word < info.words {
            spikes[t * info.words + word] = wide_word(sg_id, b0, b1, b2, b3);
        }
    }
    // The refractory words for the next dispatch, then the state (and the noise cache), once.
    let refr = vec4<bool>(l.live) & (st.r > vec4<f32>(0.0));
    let q0 = subgroupBallot(refr.x);
    let q1 = subgroupBallot(refr.y);
    let q2 = subgroupBallot(refr.z);
    let q3 = subgroupBallot(refr.w);
    if writes && word < info.words {
        spikes[info.refr_base + word] = wide_word(sg_id, q0, q1, q2, q3);
    }
    end_wide(l, st, r_start, carry, end);
}
