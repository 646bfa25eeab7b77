// Probes whether subgroups are 32 invocations laid out along the local invocation index, as
// main_ballot.wgsl needs: out[i] = subgroup size, with bit 16 set where the invocation's
// subgroup_invocation_id differs from i % 32. Host side: src/gpu/context.rs `probe_ballot`.
@group(0) @binding(0) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_size) size: u32,
        @builtin(subgroup_invocation_id) sid: u32) {
    out[lid] = size | select(0u, 1u << 16u, sid != lid % 32u);
}
