// Finds whether the adapter computes fma() as one fused operation or as a rounded multiply
// followed by an add. data = [a, b, c, out]; host side: src/gpu/context.rs `calibrate`.
@group(0) @binding(0) var<storage, read_write> data: array<f32>;

@compute @workgroup_size(1)
fn main() {
    data[3] = fma(data[0], data[1], data[2]);
}
