//! The WGSL sources, embedded at compile time from `shaders/`.

/// Bindings, parameter access, noise and the shared steps of `update_neuron`, for every step
/// kernel.
pub const COMMON: &str = include_str!("../../shaders/common.wgsl");
/// One neuron per invocation: the state and input bindings and one step of one invocation.
pub const LANE: &str = include_str!("../../shaders/lane.wgsl");
/// Four neurons per invocation (any model with K ≤ 1 and J ≤ 2, any input): 16-byte state,
/// input and noise-cache access.
pub const WIDE: &str = include_str!("../../shaders/wide.wgsl");
/// LIF / GLIF1 / ALIF / GLIF2 step (K threshold components, 0 for LIF and GLIF1).
pub const LIF: &str = include_str!("../../shaders/lif.wgsl");
/// GLIF3 / GLIF4 / GLIF5 step.
pub const GLIF: &str = include_str!("../../shaders/glif.wgsl");
/// The arithmetic-mode probe.
pub const CALIBRATE: &str = include_str!("../../shaders/calibrate.wgsl");

/// Entry point building spike words in workgroup memory (any adapter).
pub const MAIN_WORKGROUP: &str = include_str!("../../shaders/main_workgroup.wgsl");
/// Entry point building spike words with subgroupBallot (subgroups a multiple of 32 wide; in
/// workgroup memory from narrower ones).
pub const MAIN_BALLOT: &str = include_str!("../../shaders/main_ballot.wgsl");
/// The wide kernel's entry point building spike words in workgroup memory (any adapter).
pub const WIDE_WORKGROUP: &str = include_str!("../../shaders/wide_workgroup.wgsl");
/// The wide kernel's entry point building spike words with subgroupBallot.
pub const WIDE_BALLOT: &str = include_str!("../../shaders/wide_ballot.wgsl");
/// Philox's 32×32→64 multiply from 16-bit halves (any adapter).
pub const MULHILO_U32: &str = include_str!("../../shaders/mulhilo_u32.wgsl");
/// Philox's 32×32→64 multiply with 64-bit integers (`Features::SHADER_INT64`).
pub const MULHILO_U64: &str = include_str!("../../shaders/mulhilo_u64.wgsl");
/// The subgroup layout probe.
pub const PROBE_SUBGROUPS: &str = include_str!("../../shaders/probe_subgroups.wgsl");

/// The full source of the step kernel for `model`: the common prelude, the model's file and
/// an entry point (`ballot`: the subgroup one, main_ballot.wgsl, which needs
/// `Features::SUBGROUP` and subgroups laid out along the local index; naga gates subgroup
/// operations by that feature rather than by an `enable` directive).
/// `int64`: Philox's multiply in 64-bit integers (`Features::SHADER_INT64`).
pub fn step_source(model: crate::Model, ballot: bool, int64: bool) -> String {
    let body = if model.has_asc() { GLIF } else { LIF };
    let main = if ballot { MAIN_BALLOT } else { MAIN_WORKGROUP };
    let mul = if int64 { MULHILO_U64 } else { MULHILO_U32 };
    format!("{COMMON}\n{mul}\n{LANE}\n{body}\n{main}")
}

/// The full source of the wide step kernel (four neurons per invocation; any model with K ≤ 1
/// and J ≤ 2, see [`crate::gpu::GpuOptions::wide`]); `ballot` and `int64` as for
/// [`step_source`].
pub fn wide_source(ballot: bool, int64: bool) -> String {
    let main = if ballot { WIDE_BALLOT } else { WIDE_WORKGROUP };
    let mul = if int64 { MULHILO_U64 } else { MULHILO_U32 };
    format!("{COMMON}\n{mul}\n{WIDE}\n{main}")
}
/// The bandwidth reference kernel of `glifsim bench`.
pub const REFERENCE_AXPY: &str = include_str!("../../shaders/reference_axpy.wgsl");
/// The bandwidth reference kernel with 16-byte accesses (`glifsim bench`).
pub const REFERENCE_AXPY4: &str = include_str!("../../shaders/reference_axpy4.wgsl");
/// The copy-bandwidth kernel of `glifsim bench`.
pub const REFERENCE_COPY: &str = include_str!("../../shaders/reference_copy.wgsl");

/// Every shader file with its name, for validation and checks.
pub const ALL: &[(&str, &str)] = &[
    ("common", COMMON),
    ("lane", LANE),
    ("wide", WIDE),
    ("wide_workgroup", WIDE_WORKGROUP),
    ("wide_ballot", WIDE_BALLOT),
    ("lif", LIF),
    ("glif", GLIF),
    ("main_workgroup", MAIN_WORKGROUP),
    ("main_ballot", MAIN_BALLOT),
    ("mulhilo_u32", MULHILO_U32),
    ("mulhilo_u64", MULHILO_U64),
    ("calibrate", CALIBRATE),
    ("probe_subgroups", PROBE_SUBGROUPS),
    ("reference_axpy", REFERENCE_AXPY),
    ("reference_axpy4", REFERENCE_AXPY4),
    ("reference_copy", REFERENCE_COPY),
];
