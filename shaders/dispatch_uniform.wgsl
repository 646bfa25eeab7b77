// The dispatch's `Dispatch` (common.wgsl) as a uniform at a dynamic offset: the host writes
// one entry per dispatch of a submission into one buffer (src/gpu/engine.rs
// `write_step_uniforms`). Used where the device has no immediates (`Features::IMMEDIATES`).
// Twin: dispatch_immediate.wgsl.
@group(0) @binding(1) var<uniform> dispatch: Dispatch;
