// The bandwidth reference of `glifsim bench` with 16-byte accesses: y ← fma(y, a, x) on
// vec4s, 12 bytes per element like reference_axpy.wgsl, but one 16-byte load of each array and
// one 16-byte store per invocation, the access of the copy kernel and of the wide step kernel
// (wide.wgsl). No CPU twin: it measures what a trivial kernel reaches with vector accesses.
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    if i < arrayLength(&y) {
        y[i] = fma(y[i], vec4<f32>(0.999), x[i]);
    }
}
