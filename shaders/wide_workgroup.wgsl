// The wide kernel's entry point (four neurons per invocation, wide.wgsl), building the spike
// words in workgroup memory (any adapter): a workgroup covers 1,024 neurons, 32 words, and
// invocation i ORs its four bits into nibble i % 8 of word i / 8. Twin of
// main_workgroup.wgsl; CPU twin of the word layout: src/frame.rs.

var<workgroup> wide_words: array<atomic<u32>, 32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let wg = wid.y * info.wg_x + wid.x;
    // A spare workgroup of the 2-D tiling (past the last invocation) has nothing to do; the
    // condition is the same for the whole workgroup, so the barriers below stay uniform.
    if wg * 256u >= info.threads / 4u {
        return;
    }
    let l = wide_of(wg, lid);
    var st: WideState;
    var carry: WideCarry;
    begin_wide(l, &st, &carry);
    let r_start = st.r;
    if lid < 32u {
        atomicStore(&wide_words[lid], 0u);
    }
    workgroupBarrier();
    let word = wg * 32u + lid;
    let end = dispatch_end();
    for (var t = dispatch.t0; t < end; t++) {
        let bits = nibble_of(step_wide(l, t, end, &st, &carry));
        if bits != 0u {
            atomicOr(&wide_words[lid / 8u], bits << (4u * (lid % 8u)));
        }
        workgroupBarrier();
        // Each spike word is assembled in workgroup memory and written once.
        if lid < 32u {
            if word < info.words {
                spikes[t * info.words + word] = atomicLoad(&wide_words[lid]);
            }
            atomicStore(&wide_words[lid], 0u);
        }
        workgroupBarrier();
    }
    // The refractory words for the next dispatch (the words are zero after the last step),
    // then the state (and the noise cache), once.
    let refr = nibble_of(vec4<bool>(l.live) & (st.r > vec4<f32>(0.0)));
    if refr != 0u {
        atomicOr(&wide_words[lid / 8u], refr << (4u * (lid % 8u)));
    }
    workgroupBarrier();
    if lid < 32u && word < info.words {
        spikes[info.refr_base + word] = atomicLoad(&wide_words[lid]);
    }
    end_wide(l, st, r_start, carry, end);
}
