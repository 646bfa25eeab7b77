//! One API over both paths.

use std::sync::Arc;

use crate::error::Result;
use crate::gpu::{GpuContext, GpuOptions, GpuSim};
use crate::{
    Arith, CpuSim, Population, Sampling, SpikeFrame, SpikeRecord, State, StateArray, StepOptions,
};

/// Which path to run on.
///
/// ```
/// use glifsim::Backend;
/// let b: Backend = serde_json::from_str("\"cpu\"").unwrap();
/// assert_eq!(b, Backend::Cpu);
/// assert_eq!(Backend::default(), Backend::Auto);
/// ```
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
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 1000).build()?;
    /// // Auto: the GPU where an adapter exists, else (with a warning) the CPU path.
    /// let sim = Simulator::new(&pop, 2, Backend::Auto)?;
    /// println!("running on {}", sim.device_name());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
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
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuOptions}, Model, Population, Simulator};
    /// let ctx = Arc::new(GpuContext::new()?);
    /// let pop = Population::builder(Model::Lif, 1_000_000).build()?;
    /// let opts = GpuOptions { chunk_steps: 200, ..Default::default() };
    /// let sim = Simulator::on_gpu(ctx, &pop, 1, &opts)?;
    /// assert!(sim.is_gpu());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
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
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator, StepOptions};
    /// let pop = Population::builder(Model::Lif, 64).build()?;
    /// let mut sim = Simulator::new(&pop, 1, Backend::Auto)?;
    /// let x = vec![25.0f32; 10 * 64];
    /// sim.run(10, &x, StepOptions::default())?;
    /// let mut twin = sim.cpu_matching()?;
    /// assert_eq!(twin.steps_done(), 10);
    /// assert_eq!(
    ///     twin.run(10, &x, StepOptions::default())?,
    ///     sim.run(10, &x, StepOptions::default())?
    /// );
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn cpu_matching(&self) -> Result<Self> {
        let mut cpu = CpuSim::new(self.population(), self.trials(), self.arith())?;
        cpu.set_drive(self.drive().clone())?;
        cpu.set_state(self.state()?)?;
        cpu.set_steps_done(self.steps_done());
        Ok(Simulator::Cpu(cpu))
    }

    /// The population.
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// assert_eq!(sim.population(), &pop);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn population(&self) -> &Population {
        match self {
            Simulator::Cpu(s) => s.population(),
            Simulator::Gpu(s) => s.population(),
        }
    }
    /// Trials B.
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// assert_eq!(Simulator::new(&pop, 3, Backend::Cpu)?.trials(), 3);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn trials(&self) -> usize {
        match self {
            Simulator::Cpu(s) => s.trials(),
            Simulator::Gpu(s) => s.trials(),
        }
    }
    /// Steps taken.
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator, StepOptions};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// sim.run(7, &[0.0; 70], StepOptions::default())?;
    /// assert_eq!(sim.steps_done(), 7);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn steps_done(&self) -> u64 {
        match self {
            Simulator::Cpu(s) => s.steps_done(),
            Simulator::Gpu(s) => s.steps_done(),
        }
    }
    /// The arithmetic mode results are computed in.
    ///
    /// ```
    /// use glifsim::{Arith, Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// assert_eq!(Simulator::new(&pop, 1, Backend::Cpu)?.arith(), Arith::Separate);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn arith(&self) -> Arith {
        match self {
            Simulator::Cpu(s) => s.arith(),
            Simulator::Gpu(s) => s.context().arith(),
        }
    }
    /// "cpu" or the adapter's name.
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// assert_eq!(Simulator::new(&pop, 1, Backend::Cpu)?.device_name(), "cpu");
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn device_name(&self) -> String {
        match self {
            Simulator::Cpu(_) => "cpu".into(),
            Simulator::Gpu(s) => s.context().adapter().name.clone(),
        }
    }
    /// Whether this is the GPU path.
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// assert!(!Simulator::new(&pop, 1, Backend::Cpu)?.is_gpu());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn is_gpu(&self) -> bool {
        matches!(self, Simulator::Gpu(_))
    }
    /// One step.
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator, StepOptions};
    /// let pop = Population::builder(Model::Lif, 2).v_rest(-65.0).v_th(-50.0).build()?;
    /// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// // Neuron 1 gets a current far above threshold; neuron 0 none.
    /// let mut fired = false;
    /// for _ in 0..200 {
    ///     let f = sim.step(&[0.0, 1000.0], StepOptions::default())?;
    ///     assert!(!f.get(0, 0));
    ///     fired |= f.get(0, 1);
    /// }
    /// assert!(fired);
    /// // A wrong length is an error, and nothing changes.
    /// assert!(sim.step(&[0.0], StepOptions::default()).is_err());
    /// assert_eq!(sim.steps_done(), 200);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn step(&mut self, input: &[f32], opts: StepOptions) -> Result<SpikeFrame> {
        match self {
            Simulator::Cpu(s) => s.step(input, opts),
            Simulator::Gpu(s) => s.step(input, opts),
        }
    }
    /// `steps` steps with inputs `[T][B][N]`.
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator, StepOptions};
    /// let (n, b, t) = (50, 2, 100);
    /// let pop = Population::builder(Model::Lif, n).build()?;
    /// let mut sim = Simulator::new(&pop, b, Backend::Cpu)?;
    /// let inputs = vec![50.0f32; t * b * n]; // [T][B][N], nA
    /// let rec = sim.run(t, &inputs, StepOptions::default())?;
    /// assert_eq!((rec.steps(), rec.trials(), rec.neurons()), (t, b, n));
    /// assert!(rec.count() > 0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn run(&mut self, steps: usize, inputs: &[f32], opts: StepOptions) -> Result<SpikeRecord> {
        match self {
            Simulator::Cpu(s) => s.run(steps, inputs, opts),
            Simulator::Gpu(s) => s.run(steps, inputs, opts),
        }
    }
    /// `steps` steps, streaming spike words chunk by chunk to `sink(t0, words)`.
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator, StepOptions};
    /// let pop = Population::builder(Model::Lif, 64).build()?;
    /// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// let mut spikes = 0u64;
    /// sim.run_with(100, &vec![50.0; 100 * 64], StepOptions::default(), |_t0, words| {
    ///     spikes += words.iter().map(|w| w.count_ones() as u64).sum::<u64>();
    ///     Ok(())
    /// })?;
    /// assert!(spikes > 0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
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
    /// Set the on-device input currents (bias, noise, schedule). The state and step count
    /// stay; on the GPU path the state stays on the device ([`GpuSim::set_drive`]).
    ///
    /// ```
    /// use glifsim::{input::{Drive, Noise}, Backend, Model, Population, Simulator, StepOptions};
    /// let pop = Population::builder(Model::Lif, 100).build()?;
    /// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// sim.set_drive(Drive {
    ///     bias: 15.0.into(),
    ///     noise: Some(Noise { mean: 0.0.into(), std: 20.0.into(), seed: 7 }),
    ///     schedule: vec![],
    /// })?;
    /// let mut spikes = 0;
    /// sim.run_driven_with(500, StepOptions::default(), |_, w| {
    ///     spikes += w.iter().map(|x| x.count_ones()).sum::<u32>();
    ///     Ok(())
    /// })?;
    /// assert!(spikes > 0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn set_drive(&mut self, drive: crate::input::Drive) -> Result<()> {
        match self {
            Simulator::Cpu(s) => s.set_drive(drive),
            Simulator::Gpu(s) => s.set_drive(drive),
        }
    }
    /// The drive.
    ///
    /// ```
    /// use glifsim::{input::Drive, Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// assert!(sim.drive().is_zero());
    /// sim.set_drive(Drive { bias: 3.0.into(), ..Default::default() })?;
    /// assert_eq!(sim.drive().bias.at(0), 3.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn drive(&self) -> &crate::input::Drive {
        match self {
            Simulator::Cpu(s) => s.drive(),
            Simulator::Gpu(s) => s.drive(),
        }
    }
    /// Set the step counter (restoring a checkpoint): the noise generator and the schedule
    /// continue from this step.
    ///
    /// ```
    /// use glifsim::{input::Drive, Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// // A schedule keyed by step: continuing at step 1000 continues at its value there.
    /// sim.set_drive(Drive { schedule: vec![(500, 4.0)], ..Default::default() })?;
    /// sim.set_steps_done(1000);
    /// assert_eq!(sim.steps_done(), 1000);
    /// assert_eq!(sim.drive().schedule_at(sim.steps_done()), 4.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn set_steps_done(&mut self, steps: u64) {
        match self {
            Simulator::Cpu(s) => s.set_steps_done(steps),
            Simulator::Gpu(s) => s.set_steps_done(steps),
        }
    }
    /// `steps` steps driven by the drive alone, streaming spike words to `sink(t0, words)`.
    ///
    /// ```
    /// use glifsim::{input::Drive, Backend, Model, Population, Simulator, StepOptions};
    /// let pop = Population::builder(Model::Lif, 32).build()?;
    /// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// sim.set_drive(Drive { bias: 30.0.into(), ..Default::default() })?;
    /// let mut rows = 0;
    /// sim.run_driven_with(40, StepOptions::default(), |_, words| {
    ///     rows += words.len(); // one word per step: 32 neurons, one trial
    ///     Ok(())
    /// })?;
    /// assert_eq!(rows, 40);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
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
    /// Run `steps` steps (host `inputs` `[T][B][N]`, or the drive alone when `None`),
    /// streaming spike words to `sink(t0, words)` and, after every step that brings the step
    /// count to a multiple of `sampling.every`, the state of `sampling.neurons` to
    /// `on_sample(step count, state)` (as [`Simulator::state_of`] would read it then). On the
    /// GPU the samples are copied on the device within the run ([`GpuSim::run_sampled`]);
    /// on the CPU path, and on the GPU where one chunk's samples would exceed 256 MiB (or with
    /// `GLIFSIM_HOST_SAMPLES=1`), the run is cut at the sample steps and each is read with
    /// `state_of`. Either way the spikes and
    /// the samples are those of one uninterrupted run. Host inputs are checked in full first.
    ///
    /// [`GpuSim::run_sampled`]: crate::gpu::GpuSim::run_sampled
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Sampling, Simulator, StepOptions};
    /// let pop = Population::builder(Model::Lif, 100).build()?;
    /// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// let input = vec![20.0f32; 50 * 100];
    /// let sampling = Sampling { neurons: vec![3, 7], every: 10 };
    /// let mut v3 = Vec::new();
    /// sim.run_sampled(50, Some(&input), StepOptions::default(), &sampling,
    ///     |_, _| Ok(()), |step, st| { v3.push((step, st.v[0])); Ok(()) })?;
    /// assert_eq!(v3.iter().map(|s| s.0).collect::<Vec<_>>(), vec![10, 20, 30, 40, 50]);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn run_sampled(
        &mut self,
        steps: usize,
        inputs: Option<&[f32]>,
        opts: StepOptions,
        sampling: &Sampling,
        mut sink: impl FnMut(usize, &[u32]) -> Result<()>,
        mut on_sample: impl FnMut(u64, State<f32>) -> Result<()>,
    ) -> Result<()> {
        let pop_len = self.population().len();
        sampling.check(pop_len)?;
        if steps == 0 {
            return Ok(());
        }
        if let Simulator::Gpu(g) = self {
            // GLIFSIM_HOST_SAMPLES=1: cut the run at the samples on the GPU too (the A/B of
            // scripts/gpu_check.sh).
            if g.samples_on_device(sampling)
                && !crate::gpu::context::env_flag("GLIFSIM_HOST_SAMPLES")
            {
                return g.run_sampled(steps, inputs, opts, sampling, sink, on_sample);
            }
        }
        let bn = self.trials() * pop_len;
        if let Some(x) = inputs {
            crate::input::check_input("inputs", x, steps * bn, opts.check_input)?;
        }
        let parts = StepOptions {
            check_input: false,
            ..opts
        };
        let start = self.steps_done();
        let end = start + steps as u64;
        // The run is cut at every sample step and ends at `end`.
        let mut cuts = sampling.steps_in(start, steps as u64);
        if cuts.last() != Some(&end) {
            cuts.push(end);
        }
        let mut done = 0usize;
        for at in cuts {
            let n = (at - start) as usize - done;
            if n > 0 {
                let from = done;
                let mut part_sink = |t: usize, w: &[u32]| sink(from + t, w);
                match inputs {
                    Some(x) => {
                        self.run_with(n, &x[from * bn..(from + n) * bn], parts, &mut part_sink)?
                    }
                    None => self.run_driven_with(n, parts, &mut part_sink)?,
                }
                done += n;
            }
            if at.is_multiple_of(sampling.every) {
                on_sample(at, self.state_of(&sampling.neurons)?)?;
            }
        }
        Ok(())
    }

    /// A copy of the state.
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 10).v_rest(-70.0).build()?;
    /// let sim = Simulator::new(&pop, 2, Backend::Cpu)?;
    /// let st = sim.state()?;
    /// assert_eq!(st.v, vec![-70.0; 20]); // [B][N], starting at V_rest
    /// assert!(st.theta.is_empty() && st.asc.is_empty());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn state(&self) -> Result<State<f32>> {
        match self {
            Simulator::Cpu(s) => Ok(s.state()),
            Simulator::Gpu(s) => s.state(),
        }
    }
    /// One array of the state in pieces of at most `max_values` values (or one neuron's, if
    /// more), handed to `f` in order: they concatenate to [`Simulator::state`]'s array
    /// `which`, without the whole state in host memory at once ([`CpuSim::state_blocks`],
    /// [`GpuSim::state_blocks`]). Checkpoints of command-line runs are written from this.
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator, StateArray};
    /// let pop = Population::builder(Model::Alif, 1_000)
    ///     .adapt_time_constants(vec![20.0.into(), 200.0.into()])
    ///     .adapt_increments(vec![1.0.into(), 0.1.into()])
    ///     .build()?;
    /// let sim = Simulator::new(&pop, 2, Backend::Cpu)?;
    /// let mut theta = Vec::new();
    /// sim.state_blocks(StateArray::Theta, 300, &mut |piece| {
    ///     theta.extend_from_slice(piece);
    ///     Ok(())
    /// })?;
    /// assert_eq!(theta, sim.state()?.theta); // [B][N][K]
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    ///
    /// [`CpuSim::state_blocks`]: crate::CpuSim::state_blocks
    /// [`GpuSim::state_blocks`]: crate::gpu::GpuSim::state_blocks
    pub fn state_blocks(
        &self,
        which: StateArray,
        max_values: usize,
        f: &mut dyn FnMut(&[f32]) -> Result<()>,
    ) -> Result<()> {
        match self {
            Simulator::Cpu(s) => s.state_blocks(which, max_values, f),
            Simulator::Gpu(s) => s.state_blocks(which, max_values, f),
        }
    }
    /// Fill array `which` of the state from `fill`, a block of whole neurons of at most
    /// `max_values` values at a time, in [`Simulator::state_blocks`]' order, with no copy of
    /// the state on the host (`CpuSim::set_state_blocks`, `GpuSim::set_state_blocks`). On an
    /// error the array is partly replaced: for a simulator built to be restored, which an
    /// error discards (`glifsim resume`).
    pub(crate) fn set_state_blocks(
        &mut self,
        which: StateArray,
        max_values: usize,
        fill: &mut dyn FnMut(&mut [f32]) -> Result<()>,
    ) -> Result<()> {
        match self {
            Simulator::Cpu(s) => s.set_state_blocks(which, max_values, fill),
            Simulator::Gpu(s) => s.set_state_blocks(which, max_values, fill),
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
    ///
    /// ```
    /// use glifsim::{Backend, Model, Population, Simulator};
    /// let pop = Population::builder(Model::Lif, 3).build()?;
    /// let mut sim = Simulator::new(&pop, 1, Backend::Cpu)?;
    /// let mut st = sim.state()?;
    /// st.v = vec![-60.0, -55.0, -51.0];
    /// sim.set_state(&st)?;
    /// assert_eq!(sim.state()?.v, st.v);
    /// // A state of the wrong shape (or with NaN, or r < 0) is refused; nothing changes.
    /// st.v.push(-50.0);
    /// assert!(sim.set_state(&st).is_err());
    /// assert_eq!(sim.state()?.v.len(), 3);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn set_state(&mut self, st: &State<f32>) -> Result<()> {
        match self {
            Simulator::Cpu(s) => s.set_state(st.clone()),
            Simulator::Gpu(s) => s.set_state(st),
        }
    }
}
