// Probes how subgroups are laid out: out[i] = subgroup size, with bit 16 set where the
// invocation's subgroup_invocation_id differs from i % size. The spike-word entry points that
// use subgroupBallot need subgroups laid out along the local invocation index: a multiple of
// 32 up to 128 wide for main_ballot.wgsl (which builds words in workgroup memory from
// narrower ones), a multiple of 8 up to 128 for wide_ballot.wgsl. Host side:
// src/gpu/context.rs `probe_subgroups`.
@group(0) @binding(0) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_size) size: u32,
        @builtin(subgroup_invocation_id) sid: u32) {
    out[lid] = size | select(0u, 1u << 16u, sid != lid % size);
}
