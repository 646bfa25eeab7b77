//! The WGSL sources, embedded at compile time from `shaders/`.

/// Bindings, parameter access and spike-word packing shared by every step kernel.
pub const COMMON: &str = include_str!("../../shaders/common.wgsl");
/// LIF / GLIF1 step.
pub const LIF: &str = include_str!("../../shaders/lif.wgsl");
/// ALIF / GLIF2 step.
pub const ADAPTIVE: &str = include_str!("../../shaders/adaptive.wgsl");
/// The arithmetic-mode probe.
pub const CALIBRATE: &str = include_str!("../../shaders/calibrate.wgsl");

/// The full source of the step kernel for `model`: the common prelude plus the model's file.
pub fn step_source(model: crate::Model) -> String {
    let body = if model.is_adaptive() { ADAPTIVE } else { LIF };
    format!("{COMMON}\n{body}")
}
/// The bandwidth reference kernel of `glifsim bench`.
pub const REFERENCE_AXPY: &str = include_str!("../../shaders/reference_axpy.wgsl");
