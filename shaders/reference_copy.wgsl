// The copy bandwidth reference of `glifsim bench`: y ← x with one 16-byte load and store per
// invocation. No CPU twin: it measures what the device's shader cores reach on a plain copy,
// the ceiling a step kernel competes against.
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    if i < arrayLength(&y) {
        y[i] = x[i];
    }
}
