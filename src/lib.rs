//! # glifsim
//!
//! Large populations of linear integrate-and-fire neurons (LIF/GLIF1, ALIF, GLIF2, GLIF3,
//! GLIF4, GLIF5) on any GPU through wgpu compute shaders, with a CPU reference path in f32 and f64 that the GPU path is
//! held to bit for bit. The semantics are those of `MODELS.md` (shipped in `docs/MODELS.md`).
//!
//! Start with [`Population::builder`], then [`Simulator`] (either path), [`CpuSim`] or
//! [`gpu::GpuSim`]; [`input::Drive`] puts inputs on the device; [`spec`] and [`run`] drive the
//! command line.
//!
//! ```
//! use glifsim::{Arith, CpuSim, Model, Population, StepOptions};
//! let pop = Population::builder(Model::Lif, 1000).dt(0.1).tau_m(20.0).build()?;
//! let mut sim = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
//! let frame = sim.step(&vec![16.0; 1000], StepOptions::default())?;
//! assert_eq!(frame.count(), 0); // nobody crosses threshold on the first step
//! # Ok::<(), glifsim::Error>(())
//! ```

#![warn(missing_docs)]

pub mod allen;
pub mod bench;
pub mod checkpoint;
pub mod cpu;
pub mod error;
pub mod frame;
pub mod gpu;
pub mod input;
pub mod model;
pub mod noise;
pub mod plot;
pub mod propagator;
pub mod real;
pub mod record;
pub mod run;
pub mod sim;
pub mod spec;
pub mod state;

pub use cpu::CpuSim;
pub use error::{Error, Result};
pub use frame::{SpikeFrame, SpikeRecord};
pub use model::{
    Adaptation, AfterSpikeCurrent, Model, Param, Population, PopulationBuilder, VoltageThreshold,
};
pub use real::{Arith, Real};
pub use sim::{Backend, Simulator};
pub use state::{Sampling, State, StateArray, StepOptions};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
