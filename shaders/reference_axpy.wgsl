// A minimal bandwidth reference for `glifsim bench`: y ← fma(y, a, x), 12 bytes per element
// (y read and written, x read), the same traffic as a LIF step with streamed input. It has no
// CPU twin: it exists only to show what the device gives a trivial kernel.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = (wid.y * nwg.x + wid.x) * 256u + lid;
    if i < arrayLength(&y) {
        y[i] = fma(y[i], 0.999, x[i]);
    }
}
