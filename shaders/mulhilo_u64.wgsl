// (hi, lo) of the 64-bit product a·b in one 64-bit multiply (Features::SHADER_INT64).
// Same bits as mulhilo_u32.wgsl. CPU twin: the u64 products in `philox4x32_10`, src/noise.rs.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let p = u64(a) * u64(b);
    return vec2<u32>(u32(p >> 32u), u32(p & 0xfffffffflu));
}
