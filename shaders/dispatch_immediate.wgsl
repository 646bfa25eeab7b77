// The dispatch's `Dispatch` (common.wgsl) as immediates (push constants), set in the compute
// pass before each dispatch (src/gpu/engine.rs `encode_steps`), so that a submission needs no
// buffer write for it. Used where the device has `Features::IMMEDIATES`. Twin:
// dispatch_uniform.wgsl.
var<immediate> dispatch: Dispatch;
