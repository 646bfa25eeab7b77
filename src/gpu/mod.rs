//! The GPU path: WGSL compute shaders driven through wgpu.
//!
//! [`GpuContext`] opens a device (and finds its arithmetic mode); [`GpuSim`] holds a population
//! on it and runs many steps per submission.

pub mod context;
pub mod engine;
pub mod shaders;

pub use context::{
    list_adapters, AdapterSummary, GpuContext, DEFAULT_BACKENDS, DEFAULT_SPIN_WAIT,
    MIN_BINDING_LIMIT, STORAGE_BUFFERS_NEEDED,
};
pub use engine::{DeviceMemory, GpuLayout, GpuOptions, GpuSim, MAX_K, STATE_OF_RUN_GAP};
