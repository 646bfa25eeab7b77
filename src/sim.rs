//! One API over both paths.

use std::sync::Arc;

use crate::error::Result;
use crate::gpu::{GpuContext, GpuOptions, GpuSim};
use crate::{Arith, CpuSim, Population, SpikeFrame, SpikeRecord, State, StepOptions};

/// Which path to run on.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The GPU when an adapter exists, else the CPU path (with a warning).
    #[default]
    Auto,
    /// The GPU; an error when no adapter exists.
    Gpu,
    /// The CPU reference path (f32, all cores).
    Cpu,
}

/// A population on either path, with one set of calls. On an adapter that computes `fma()`
/// separately (lavapipe) both paths give identical results; [`Simulator::cpu_matching`] gives
/// a CPU twin of any GPU simulator.
///
/// ```
/// use glifsim::{Backend, Model, Population, Simulator, StepOptions};
/// let pop = Population::builder(Model::Lif, 100).build()?;
/// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
/// let spikes = sim.run(50, &vec![20.0; 50 * 100], StepOptions::default())?;
/// assert_eq!(spikes.steps(), 50);
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per population, never moved in a hot loop
pub enum Simulator {
    /// The CPU reference path in f32.
    Cpu(CpuSim<f32>),
    /// The GPU path.
    Gpu(GpuSim),
}

impl Simulator {
    /// A simulator on `backend`. `Auto` falls back to the CPU path with a warning.
    pub fn new(pop: &Population, trials: usize, backend: Backend) -> Result<Self> {
        match backend {
            Backend::Cpu => Ok(Simulator::Cpu(CpuSim::new(pop, trials, Arith::Separate)?)),
            Backend::Gpu => {
                let ctx = Arc::new(GpuContext::new()?);
                Self::on_gpu(ctx, pop, trials, &GpuOptions::default())
            }
            Backend::Auto => match GpuContext::new() {
                Ok(ctx) => Self::on_gpu(Arc::new(ctx), pop, trials, &GpuOptions::default()),
                Err(e) => {
                    log::warn!("{e}; running on the CPU path instead");
                    Ok(Simulator::Cpu(CpuSim::new(pop, trials, Arith::Separate)?))
                }
            },
        }
    }

    /// A simulator on an open GPU context.
    pub fn on_gpu(
        ctx: Arc<GpuContext>,
        pop: &Population,
        trials: usize,
        opts: &GpuOptions,
    ) -> Result<Self> {
        Ok(Simulator::Gpu(GpuSim::with_options(
            ctx, pop, trials, opts,
        )?))
    }

    /// A CPU simulator in the same arithmetic mode, state, step count and drive as `self`:
    /// continued with the same inputs, both give the same results.
    pub fn cpu_matching(&self) -> Result<Self> {
        let mut cpu = CpuSim::new(self.population(), self.trials(), self.arith())?;
        cpu.set_drive(self.drive().clone())?;
        cpu.set_state(self.state()?)?;
        cpu.set_steps_done(self.steps_done());
        Ok(Simulator::Cpu(cpu))
    }

    /// The population.
    pub fn population(&self) -> &Population {
        match self {
            Simulator::Cpu(s) => s.population(),
            Simulator::Gpu(s) => s.population(),
        }
    }
    /// Trials B.
    pub fn trials(&self) -> usize {
        match self {
            Simulator::Cpu(s) => s.trials(),
            Simulator::Gpu(s) => s.trials(),
        }
    }
    /// Steps taken.
    pub fn steps_done(&self) -> u64 {
        match self {
            Simulator::Cpu(s) => s.steps_done(),
            Simulator::Gpu(s) => s.steps_done(),
        }
    }
    /// The arithmetic mode results are computed in.
    pub fn arith(&self) -> Arith {
        match self {
            Simulator::Cpu(s) => s.arith(),
            Simulator::Gpu(s) => s.context().arith(),
        }
    }
    /// "cpu" or the adapter's name.
    pub fn device_name(&self) -> String {
        match self {
            Simulator::Cpu(_) => "cpu".into(),
            Simulator::Gpu(s) => s.context().adapter().name.clone(),
        }
    }
    /// Whether this is the GPU path.
    pub fn is_gpu(&self) -> bool {
        matches!(self, Simulator::Gpu(_))
    }
    /// One step.
    pub fn step(&mut self, input: &[f32], opts: StepOptions) -> Result<SpikeFrame> {
        match self {
            Simulator::Cpu(s) => s.step(input, opts),
            Simulator::Gpu(s) => s.step(input, opts),
        }
    }
    /// `steps` steps with inputs `[T][B][N]`.
    pub fn run(&mut self, steps: usize, inputs: &[f32], opts: StepOptions) -> Result<SpikeRecord> {
        match self {
            Simulator::Cpu(s) => s.run(steps, inputs, opts),
            Simulator::Gpu(s) => s.run(steps, inputs, opts),
        }
    }
    /// `steps` steps, streaming spike words chunk by chunk to `sink(t0, words)`.
    pub fn run_with(
        &mut self,
        steps: usize,
        inputs: &[f32],
        opts: StepOptions,
        sink: impl FnMut(usize, &[u32]) -> Result<()>,
    ) -> Result<()> {
        match self {
            Simulator::Cpu(s) => s.run_with(steps, inputs, opts, sink),
            Simulator::Gpu(s) => s.run_with(steps, inputs, opts, sink),
        }
    }
    /// Set the on-device input currents (bias, noise, schedule).
    pub fn set_drive(&mut self, drive: crate::input::Drive) -> Result<()> {
        match self {
            Simulator::Cpu(s) => s.set_drive(drive),
            Simulator::Gpu(s) => s.set_drive(drive),
        }
    }
    /// The drive.
    pub fn drive(&self) -> &crate::input::Drive {
        match self {
            Simulator::Cpu(s) => s.drive(),
            Simulator::Gpu(s) => s.drive(),
        }
    }
    /// Set the step counter (restoring a checkpoint): the noise generator and the schedule
    /// continue from this step.
    pub fn set_steps_done(&mut self, steps: u64) {
        match self {
            Simulator::Cpu(s) => s.set_steps_done(steps),
            Simulator::Gpu(s) => s.set_steps_done(steps),
        }
    }
    /// `steps` steps driven by the drive alone, streaming spike words to `sink(t0, words)`.
    pub fn run_driven_with(
        &mut self,
        steps: usize,
        opts: StepOptions,
        sink: impl FnMut(usize, &[u32]) -> Result<()>,
    ) -> Result<()> {
        match self {
            Simulator::Cpu(s) => s.run_inner(steps, None, opts, sink),
            Simulator::Gpu(s) => s.run_inner(steps, None, opts, sink),
        }
    }
    /// A copy of the state.
    pub fn state(&self) -> Result<State<f32>> {
        match self {
            Simulator::Cpu(s) => Ok(s.state()),
            Simulator::Gpu(s) => s.state(),
        }
    }
    /// The state of the listed neurons only (`CpuSim::state_of`, `GpuSim::state_of`): on the
    /// GPU it reads back only their values, where [`Simulator::state`] reads the population.
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Alif, 1_000)
    ///     .adapt_time_constants(vec![20.0.into(), 200.0.into()])
    ///     .adapt_increments(vec![1.0.into(), 0.1.into()])
    ///     .build()?;
    /// let sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// let two = sim.state_of(&[10, 999])?;
    /// assert_eq!((two.v.len(), two.theta.len()), (2, 2 * pop.theta_len()));
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn state_of(&self, neurons: &[usize]) -> Result<State<f32>> {
        match self {
            Simulator::Cpu(s) => s.state_of(neurons),
            Simulator::Gpu(s) => s.state_of(neurons),
        }
    }
    /// Replace the state.
    pub fn set_state(&mut self, st: &State<f32>) -> Result<()> {
        match self {
            Simulator::Cpu(s) => s.set_state(st.clone()),
            Simulator::Gpu(s) => s.set_state(st),
        }
    }
}
