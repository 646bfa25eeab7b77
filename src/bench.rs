//! `glifsim bench`: neuron-updates per second, µs per step, bytes moved per neuron-step and
//! the fraction of the device's measured copy bandwidth, for each model, path and size.
//!
//! Bytes per neuron-step count what the kernel must move: V read and written (8), the
//! refractory bit read and written (2/8; r itself is read and written only for refractory
//! neurons, not counted), each θ_k read and written (8·K), the input read (4, streamed paths
//! only), one spike bit (1/8) and, where parameters are per neuron, each of them (4, read
//! only). What a dispatch keeps in registers or cache across its steps (the fused paths) is
//! counted once per dispatch. The CPU path keeps no refractory bits and reads r for every
//! neuron instead (4). The copy bandwidth is a device buffer-to-buffer copy or copy kernel
//! (CPU: a parallel memcpy) timed in the same run, counting bytes read plus written.
//!
//! ```
//! use glifsim::bench::{bench_cpu, bench_population, cpu_copy_bandwidth, print_table};
//! use glifsim::Model;
//! let copy = cpu_copy_bandwidth(16 << 20, 3); // GB/s, read + write
//! let r = bench_cpu(&bench_population(Model::Lif, 100_000)?, 50, copy)?;
//! assert!(r.updates_per_s > 0.0 && r.fraction_of_copy > 0.0);
//! print_table(&[r]);
//! # Ok::<(), glifsim::Error>(())
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::error::Result;
use crate::gpu::{GpuContext, GpuOptions, GpuSim};
use crate::input::{Drive, Noise};
use crate::{Arith, CpuSim, Model, Param, Population, StepOptions};

/// One measured configuration.
///
/// ```
/// use glifsim::{bench, Model};
/// let pop = bench::bench_population(Model::Lif, 100_000)?;
/// let r = bench::bench_cpu(&pop, 50, 20.0)?; // 20 GB/s: the host's copy bandwidth, measured elsewhere
/// assert_eq!((r.model.as_str(), r.path.as_str(), r.neurons), ("LIF", "cpu", 100_000));
/// assert!((r.us_per_step - r.seconds / r.steps as f64 * 1e6).abs() < 1e-6);
/// assert!((r.fraction_of_copy - r.effective_gb_s / 20.0).abs() < 1e-12);
/// println!("{}", serde_json::to_string(&r).unwrap()); // what `glifsim bench --json` writes
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchResult {
    /// Model name.
    pub model: String,
    /// `cpu`, `cpu-fused`, `cpu-fused-noise`, `gpu-step` (streamed input from device memory),
    /// `gpu-step-noise` (on-GPU noise), `gpu-fused`, `gpu-fused-noise`, or `gpu-interactive`
    /// and `gpu-interactive-poll` (one step with its readback, median; see
    /// [`interactive_step`]).
    pub path: String,
    /// Neurons.
    pub neurons: usize,
    /// How many of the population's parameters have one value per neuron (0: all shared).
    pub per_neuron_params: usize,
    /// Steps timed (in each timed run).
    pub steps: usize,
    /// How many timed runs the result is the fastest of (the median of, for the interactive
    /// step).
    pub timed_runs: usize,
    /// Wall time of the timed steps (s): the fastest run.
    pub seconds: f64,
    /// Neuron updates per second, from wall time (which includes reading every spike bit back
    /// to the host).
    pub updates_per_s: f64,
    /// Neuron updates per second from GPU time (timestamp queries), where the adapter has them.
    pub gpu_updates_per_s: Option<f64>,
    /// Microseconds per step.
    pub us_per_step: f64,
    /// Bytes moved per neuron-step.
    pub bytes_per_update: f64,
    /// Effective bandwidth (GB/s): bytes per update × updates per second, from GPU time where
    /// the adapter has timestamps (the copy it is compared with is timed the same way), else
    /// from wall time.
    pub effective_gb_s: f64,
    /// Measured copy bandwidth of the same device (GB/s, read + write).
    pub copy_gb_s: f64,
    /// effective / copy: the kernel against the copy, both from GPU time where the adapter has
    /// timestamps.
    pub fraction_of_copy: f64,
    /// The same fraction from wall time (spike readback included).
    pub wall_fraction_of_copy: f64,
    /// GPU time per step from timestamp queries (µs): the best of five passes of one chunk,
    /// where the adapter has timestamps.
    pub gpu_us_per_step: Option<f64>,
    /// Which kernel ran: `wide` (four neurons per invocation, [`GpuOptions::wide`]) or `lane`
    /// (one per invocation) on the GPU, `cpu` on the CPU path.
    pub kernel: String,
    /// On the GPU, how the kernels were built ([`GpuSim::kernel_variants`]: spike words by
    /// ballot or atomics, the dispatch table as immediates or a uniform, Philox in 64- or
    /// 32-bit integers); `None` on the CPU path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// For the interactive step, the 10th and 90th percentiles of its step times (µs), so
    /// that the median in `us_per_step` comes with its spread; `None` elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread_us: Option<[f64; 2]>,
    /// Device name.
    pub device: String,
}

/// A benchmark population: K = 1 for the adaptive models, J = 2 after-spike currents for
/// GLIF3–5, every parameter shared by all neurons. Zero neurons is an error.
///
/// ```
/// use glifsim::{bench::bench_population, Model};
/// let glif5 = bench_population(Model::Glif5, 1000)?;
/// assert_eq!((glif5.k(), glif5.j(), glif5.theta_len()), (1, 2, 2));
/// assert!(bench_population(Model::Lif, 0).is_err());
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn bench_population(model: Model, n: usize) -> Result<Population> {
    bench_population_with(model, n, false)
}

/// [`bench_population`] with every parameter per neuron when `per_neuron` is set: each
/// neuron's value drawn (deterministically) within ±5 % of the shared one, or ±1 mV for
/// potentials, so that the dynamics stay those of the shared population while every
/// parameter is read from an array, as in a population of fitted neurons.
///
/// ```
/// use glifsim::{bench::bench_population_with, Model};
/// let pop = bench_population_with(Model::Glif5, 1_000, true)?;
/// assert!(pop.threshold().is_per_neuron() && pop.tau_m().is_per_neuron());
/// assert!(!bench_population_with(Model::Glif5, 1_000, false)?.threshold().is_per_neuron());
/// assert!(bench_population_with(Model::Lif, 0, false).is_err());
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn bench_population_with(model: Model, n: usize, per_neuron: bool) -> Result<Population> {
    let mut salt = 0u64;
    // `value` itself, or one value per neuron within `value ± spread`.
    let mut x = |value: f64, spread: f64| -> Param {
        salt += 1;
        if !per_neuron {
            return value.into();
        }
        Param::PerNeuron(
            (0..n as u64)
                .map(|i| value + spread * jitter(i, salt))
                .collect(),
        )
    };
    let rel = |v: f64| 0.05 * v.abs();
    let mut b = Population::builder(model, n)
        .dt(0.1)
        .v_rest(x(-65.0, 1.0))
        .t_ref(x(2.0, rel(2.0)))
        .tau_m(x(20.0, rel(20.0)))
        .resistance(x(1.0, rel(1.0)));
    b = if model.is_adaptive() {
        b.theta_inf(x(-50.0, 1.0))
    } else {
        b.v_th(x(-50.0, 1.0))
    };
    if !model.has_glif_reset() {
        b = b.v_reset(x(-70.0, 1.0));
    }
    match model {
        Model::Alif => {
            b = b
                .adapt_time_constants(vec![x(100.0, rel(100.0))])
                .adapt_increments(vec![x(1.0, rel(1.0))])
        }
        Model::Glif2 | Model::Glif4 | Model::Glif5 => {
            b = b
                .adapt_rates(vec![x(0.01, rel(0.01))])
                .adapt_increments(vec![x(1.0, rel(1.0))])
                .m_v(x(0.5, rel(0.5)))
                .b_v(x(2.0, rel(2.0)))
        }
        _ => {}
    }
    if model.has_asc() {
        b = b.after_spike_currents(vec![
            crate::AfterSpikeCurrent {
                rate: x(0.01, rel(0.01)),
                amp: x(-0.5, rel(0.5)),
                keep: x(1.0, 0.0),
            },
            crate::AfterSpikeCurrent {
                rate: x(0.2, rel(0.2)),
                amp: x(1.0, rel(1.0)),
                keep: x(1.0, 0.0),
            },
        ]);
    }
    if model == Model::Glif5 {
        b = b.voltage_threshold(x(0.005, rel(0.005)), x(0.1, rel(0.1)));
    }
    b.build()
}

/// A number in [−1, 1) from neuron `i` and `salt`: the first word of the Philox block the
/// noise generator uses, with the two as its counter.
fn jitter(i: u64, salt: u64) -> f64 {
    let w = crate::noise::philox4x32_10([i as u32, (i >> 32) as u32, salt as u32, 0], [0, 0])[0];
    w as f64 / (1u64 << 31) as f64 - 1.0
}

/// Where a path learns whether a neuron is refractory.
#[derive(Clone, Copy)]
enum Refractory {
    /// The GPU kernels: one bit per neuron, read and written (r only where it is set).
    Bit,
    /// The CPU path: r itself, read for every neuron.
    ReadR,
}

/// Bytes a step must move per neuron: V, the refractory state, the θ/current components and
/// the per-neuron parameters (read only) once per dispatch (so divided by the steps a
/// dispatch runs), the input read every step
/// (streamed paths), one spike bit, and the noise cache's traffic where there is one (one step
/// per dispatch: 12 bytes written every fourth step and 4 read on the other three, 6 on
/// average; a longer dispatch at most 12 read and 12 written, none when its steps are a
/// multiple of four).
fn bytes_per_update(
    pop: &Population,
    refractory: Refractory,
    streamed: bool,
    steps_per_dispatch: usize,
    noise_cache: bool,
) -> f64 {
    let r = match refractory {
        Refractory::Bit => 0.25,
        Refractory::ReadR => 4.0,
    };
    let t = steps_per_dispatch as f64;
    let cache = match (noise_cache, steps_per_dispatch) {
        (false, _) => 0.0,
        (true, 1) => 6.0,
        (true, s) if s % 4 == 0 => 0.0,
        (true, _) => 24.0 / t,
    };
    let params = 4.0 * pop.per_neuron_params() as f64;
    (8.0 + r + 8.0 * pop.components() as f64 + params) / t
        + if streamed { 4.0 } else { 0.0 }
        + 0.125
        + cache
}

/// The drive of the noise paths: a 14 nA bias plus Gaussian noise of 40 nA (seed 1).
///
/// ```
/// use glifsim::bench::noise_drive;
/// let d = noise_drive();
/// assert_eq!((d.bias.at(0), d.noise.unwrap().std.at(0)), (14.0, 40.0));
/// ```
pub fn noise_drive() -> Drive {
    Drive {
        bias: 14.0.into(),
        noise: Some(Noise {
            mean: 0.0.into(),
            std: 40.0.into(),
            seed: 1,
        }),
        schedule: vec![],
    }
}

/// Device copy bandwidth, GB/s (read + write), from `reps` copies of a `bytes` buffer in one
/// submission.
///
/// ```
/// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return Ok(()) }; // no GPU adapter here
/// let gb_s = glifsim::bench::gpu_copy_bandwidth(&ctx, 16 << 20, 4)?;
/// assert!(gb_s > 0.0);
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn gpu_copy_bandwidth(ctx: &GpuContext, bytes: u64, reps: usize) -> Result<f64> {
    use wgpu::BufferUsages as U;
    let bytes = bytes.min(ctx.limits().max_buffer_size / 2 * 2) / 4 * 4;
    let a = ctx.buffer("copy a", bytes, U::COPY_SRC | U::COPY_DST)?;
    let b = ctx.buffer("copy b", bytes, U::COPY_SRC | U::COPY_DST)?;
    let run = |reps: usize| -> Result<f64> {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        for i in 0..reps {
            if i % 2 == 0 {
                enc.copy_buffer_to_buffer(&a, 0, &b, 0, bytes);
            } else {
                enc.copy_buffer_to_buffer(&b, 0, &a, 0, bytes);
            }
        }
        let t = Instant::now();
        let idx = ctx.queue.submit([enc.finish()]);
        ctx.wait(Some(idx))?;
        Ok(t.elapsed().as_secs_f64())
    };
    run(2)?;
    let secs = run(reps)?;
    Ok(2.0 * bytes as f64 * reps as f64 / secs / 1e9)
}

/// Host copy bandwidth, GB/s (read + write), parallel over all cores: the best of five rounds
/// of `reps` copies (like STREAM's best-of-N; a shared machine's neighbours only slow it).
///
/// ```
/// let gb_s = glifsim::bench::cpu_copy_bandwidth(8 << 20, 2);
/// assert!(gb_s > 0.1, "{gb_s} GB/s");
/// ```
pub fn cpu_copy_bandwidth(bytes: usize, reps: usize) -> f64 {
    let n = bytes / 4;
    let src = vec![1u32; n];
    let mut dst = vec![0u32; n];
    let chunk = (n / rayon::current_num_threads().max(1) / 4).max(1 << 16);
    let mut copy = || {
        dst.par_chunks_mut(chunk)
            .zip(src.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s))
    };
    copy();
    let best = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                copy();
            }
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    2.0 * (n * 4) as f64 * reps as f64 / best / 1e9
}

#[allow(clippy::too_many_arguments)]
fn result(
    pop: &Population,
    path: &str,
    steps: usize,
    timed_runs: usize,
    secs: f64,
    bpu: f64,
    copy: f64,
    kernel: &str,
    device: &str,
) -> BenchResult {
    let n = pop.len();
    let ups = (n * steps) as f64 / secs;
    let eff = ups * bpu / 1e9;
    BenchResult {
        model: pop.model().name().into(),
        path: path.into(),
        neurons: n,
        per_neuron_params: pop.per_neuron_params(),
        steps,
        timed_runs,
        seconds: secs,
        updates_per_s: ups,
        us_per_step: secs / steps as f64 * 1e6,
        bytes_per_update: bpu,
        effective_gb_s: eff,
        copy_gb_s: copy,
        fraction_of_copy: eff / copy,
        wall_fraction_of_copy: eff / copy,
        gpu_us_per_step: None,
        gpu_updates_per_s: None,
        kernel: kernel.into(),
        variant: None,
        spread_us: None,
        device: device.into(),
    }
}

/// The `kernel` of a GPU result: `wide` where `sim` runs the wide kernel, else `lane`.
fn kernel_of(sim: &GpuSim) -> &'static str {
    if sim.is_wide() {
        "wide"
    } else {
        "lane"
    }
}

impl BenchResult {
    /// Record how `sim`'s kernels were built.
    fn built_by(mut self, sim: &GpuSim) -> Self {
        self.variant = Some(sim.kernel_variants().to_string());
        self
    }

    /// Record the 10th and 90th percentiles of the step times (µs).
    fn with_spread(mut self, spread_us: [f64; 2]) -> Self {
        self.spread_us = Some(spread_us);
        self
    }

    /// Record the GPU time per step (µs) and take the bandwidth figures from it.
    fn with_gpu_time(mut self, us_per_step: Option<f64>) -> Self {
        if let Some(us) = us_per_step {
            let ups = self.neurons as f64 / (us * 1e-6);
            self.gpu_us_per_step = Some(us);
            self.gpu_updates_per_s = Some(ups);
            self.effective_gb_s = ups * self.bytes_per_update / 1e9;
            self.fraction_of_copy = self.effective_gb_s / self.copy_gb_s;
        }
        self
    }
}

/// The CPU path on `pop` (for example [`bench_population`]): `steps` steps with one input row
/// reused, timed in five batches of `steps / 5` of which the fastest counts (as for the copy
/// bandwidth).
///
/// ```
/// use glifsim::{bench, Model};
/// let copy = bench::cpu_copy_bandwidth(8 << 20, 2);
/// let r = bench::bench_cpu(&bench::bench_population(Model::Alif, 10_000)?, 20, copy)?;
/// // V and θ read and written (16 bytes), r and the input read (8), a spike bit.
/// assert_eq!(r.bytes_per_update, 24.125);
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn bench_cpu(pop: &Population, steps: usize, copy_gb_s: f64) -> Result<BenchResult> {
    let n = pop.len();
    let mut sim = CpuSim::<f32>::new(pop, 1, Arith::Separate)?;
    let input = vec![16.0f32; n];
    let opts = StepOptions {
        check_input: false,
        ..Default::default()
    };
    for _ in 0..3 {
        sim.step(&input, opts)?;
    }
    let batch = (steps / 5).max(1);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..batch {
            sim.step(&input, opts)?;
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let (steps, secs) = (batch, best);
    Ok(result(
        pop,
        "cpu",
        steps,
        5,
        secs,
        bytes_per_update(pop, Refractory::ReadR, true, 1, false),
        copy_gb_s,
        "cpu",
        "cpu",
    ))
}

/// The CPU path's multi-step run on `pop` (`run_driven`: each block of neurons takes 100
/// steps while its state is in cache), driven on the host by a constant bias
/// (`noise = false`) or by bias and Philox noise (`noise = true`); the best of five runs of
/// `steps` steps.
///
/// ```
/// use glifsim::{bench, Model};
/// let pop = bench::bench_population(Model::Lif, 10_000)?;
/// let r = bench::bench_cpu_run(&pop, 100, true, 20.0)?;
/// assert_eq!(r.path, "cpu-fused-noise");
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn bench_cpu_run(
    pop: &Population,
    steps: usize,
    noise: bool,
    copy_gb_s: f64,
) -> Result<BenchResult> {
    let model = pop.model();
    let mut sim = CpuSim::<f32>::new(pop, 1, Arith::Separate)?;
    sim.set_drive(if noise {
        noise_drive()
    } else {
        Drive {
            bias: 16.0.into(),
            ..Default::default()
        }
    })?;
    let opts = StepOptions::default();
    let mut count = 0;
    let mut run = |steps: usize| {
        sim.run_inner(steps, None, opts, |_, w| {
            count += w.iter().map(|x| x.count_ones() as usize).sum::<usize>();
            Ok(())
        })
    };
    run(10)?;
    let steps = steps.max(100);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        run(steps)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    log::info!("{model} cpu run: {count} spikes");
    let path = if noise {
        "cpu-fused-noise"
    } else {
        "cpu-fused"
    };
    Ok(result(
        pop,
        path,
        steps,
        5,
        best,
        bytes_per_update(pop, Refractory::ReadR, false, 100, false),
        copy_gb_s,
        "cpu",
        "cpu",
    ))
}

/// The paths `glifsim bench --paths` measures: `cpu` (one step per call, streamed input),
/// `cpu-fused` and `cpu-fused-noise` (100-step runs driven by a bias, or bias and noise),
/// `gpu` (one dispatch per step, streamed input), `gpu-noise` (one dispatch per step, on-GPU
/// noise), `gpu-fused` and `gpu-fused-noise` (100 steps per dispatch). The results name the
/// two one-dispatch paths `gpu-step` and `gpu-step-noise` ([`BenchResult::path`]).
///
/// ```
/// assert!(glifsim::bench::PATHS.contains(&"gpu-fused-noise"));
/// ```
pub const PATHS: [&str; 7] = [
    "cpu",
    "cpu-fused",
    "cpu-fused-noise",
    "gpu",
    "gpu-noise",
    "gpu-fused",
    "gpu-fused-noise",
];

/// How long [`bench_gpu`] and [`interactive_step`] keep the GPU busy before they time it, and
/// how long [`bench_gpu`] repeats its timed run (`glifsim bench --min-time`). A GPU lowers its
/// clocks within half a second of idling and takes about as long to raise them again (an
/// H200: 345 MHz idle, 1980 MHz busy), so a run of a few milliseconds right after the
/// population was built times the clock ramp rather than the kernel.
///
/// ```
/// assert_eq!(glifsim::bench::DEFAULT_MIN_TIME, std::time::Duration::from_millis(500));
/// ```
pub const DEFAULT_MIN_TIME: Duration = Duration::from_millis(500);

/// The GPU kernel on `pop`, per step (`fused = false`: one dispatch per step) or fused (100
/// steps per dispatch, state in registers), with streamed input already in device memory
/// (`noise = false`) or with on-GPU noise (`noise = true`). After warm-up chunks for at least
/// `min_time` ([`DEFAULT_MIN_TIME`]), runs of `steps` steps repeat until `min_time` has passed
/// (at least one, at most 100); the result is the fastest run, and the GPU time the fastest of
/// at least five one-chunk passes.
///
/// ```no_run
/// use std::sync::Arc;
/// use glifsim::{bench, gpu::GpuContext, Model};
/// let ctx = Arc::new(GpuContext::new()?);
/// let copy = bench::copy_kernel_gb_s(&ctx, 1 << 30, 20)?;
/// let pop = bench::bench_population(Model::Lif, 16_000_000)?;
/// let r = bench::bench_gpu(&ctx, &pop, 500, true, true, copy, bench::DEFAULT_MIN_TIME)?;
/// bench::print_table(&[r]);
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn bench_gpu(
    ctx: &Arc<GpuContext>,
    pop: &Population,
    steps: usize,
    noise: bool,
    fused: bool,
    copy_gb_s: f64,
    min_time: Duration,
) -> Result<BenchResult> {
    let n = pop.len();
    let drive = if noise {
        noise_drive()
    } else {
        Drive::default()
    };
    let gopts = GpuOptions {
        host_inputs: !noise,
        chunk_steps: 100,
        fused,
        ..Default::default()
    };
    let mut sim = GpuSim::with_drive(ctx.clone(), pop, 1, &drive, &gopts)?;
    let opts = StepOptions::default();
    let chunk = sim.chunk_steps();
    let run = |sim: &mut GpuSim, steps: usize| -> Result<()> {
        if noise {
            sim.run_inner(steps, None, opts, |_, _| Ok(()))
        } else {
            sim.run_resident(steps, opts, |_, _| Ok(()))
        }
    };
    let warm = Instant::now();
    if !noise {
        let inputs = vec![16.0f32; chunk * n];
        sim.run(chunk, &inputs, opts)?;
    }
    // Untimed chunks until the clocks are up. On the streamed path the first of them also
    // lets wgpu free the upload's staging memory (as large as the input buffer, up to 2 GB),
    // which it does at a later submission, outside the timed runs.
    keep_busy(warm, min_time, 1, || run(&mut sim, chunk))?;
    let (mut secs, mut timed, mut runs) = (f64::INFINITY, Duration::ZERO, 0);
    while runs == 0 || (timed < min_time && runs < 100) {
        let t = Instant::now();
        run(&mut sim, steps)?;
        let e = t.elapsed();
        secs = secs.min(e.as_secs_f64());
        timed += e;
        runs += 1;
    }
    let path = match (fused, noise) {
        (false, false) => "gpu-step",
        (false, true) => "gpu-step-noise",
        (true, false) => "gpu-fused",
        (true, true) => "gpu-fused-noise",
    };
    // GPU time: the best of five passes of one chunk each, right after the timed runs.
    let mut gpu_time: Option<f64> = None;
    for _ in 0..5 {
        if let Some(s) = sim.gpu_time_resident(chunk)? {
            gpu_time = Some(gpu_time.map_or(s, |b: f64| b.min(s)));
        }
    }
    let r = result(
        pop,
        path,
        steps,
        runs,
        secs,
        bytes_per_update(
            pop,
            Refractory::Bit,
            !noise,
            if fused { chunk } else { 1 },
            sim.has_noise_cache(),
        ),
        copy_gb_s,
        kernel_of(&sim),
        &ctx.adapter().name,
    );
    Ok(r.with_gpu_time(gpu_time.map(|s| s / chunk as f64 * 1e6))
        .built_by(&sim))
}

/// The reference kernel (`shaders/reference_axpy.wgsl`, 12 bytes per element) over `n`
/// elements, `reps` dispatches in one pass: effective GB/s from timestamp queries (wall time
/// where the adapter has none).
///
/// ```
/// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return Ok(()) }; // no GPU adapter here
/// let gb_s = glifsim::bench::reference_kernel_gb_s(&ctx, 1 << 20, 4)?;
/// assert!(gb_s > 0.0);
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn reference_kernel_gb_s(ctx: &GpuContext, n: usize, reps: usize) -> Result<f64> {
    let secs = time_two_buffer_kernel(
        ctx,
        "reference_axpy",
        crate::gpu::shaders::REFERENCE_AXPY,
        n as u64 * 4,
        n as u64,
        reps,
    )?;
    Ok(12.0 * n as f64 * reps as f64 / secs / 1e9)
}

/// The same reference with 16-byte accesses (`shaders/reference_axpy4.wgsl`: one vec4 of
/// each array per invocation, the access of the wide step kernel) over `n` elements (rounded
/// down to a multiple of 4).
///
/// ```no_run
/// let ctx = glifsim::gpu::GpuContext::new()?;
/// let scalar = glifsim::bench::reference_kernel_gb_s(&ctx, 1 << 24, 20)?;
/// let vector = glifsim::bench::reference_kernel4_gb_s(&ctx, 1 << 24, 20)?;
/// println!("4-byte accesses {scalar:.0} GB/s, 16-byte {vector:.0} GB/s");
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn reference_kernel4_gb_s(ctx: &GpuContext, n: usize, reps: usize) -> Result<f64> {
    let n = (n / 4 * 4).max(4);
    let secs = time_two_buffer_kernel(
        ctx,
        "reference_axpy4",
        crate::gpu::shaders::REFERENCE_AXPY4,
        n as u64 * 4,
        n as u64 / 4,
        reps,
    )?;
    Ok(12.0 * n as f64 * reps as f64 / secs / 1e9)
}

/// Device copy bandwidth through a compute kernel (`shaders/reference_copy.wgsl`: 16-byte
/// loads and stores, one per invocation) over a `bytes` buffer, `reps` dispatches in one
/// pass: GB/s counting bytes read plus written, from timestamp queries (wall time where the
/// adapter has none). On some GPUs `copy_buffer_to_buffer` runs on a DMA engine far below
/// what the shader cores reach, so this is the ceiling a step kernel competes against.
///
/// ```
/// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return Ok(()) }; // no GPU adapter here
/// let gb_s = glifsim::bench::copy_kernel_gb_s(&ctx, 16 << 20, 4)?;
/// assert!(gb_s > 0.0);
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn copy_kernel_gb_s(ctx: &GpuContext, bytes: u64, reps: usize) -> Result<f64> {
    let lim = ctx.limits();
    let bytes = bytes.min(lim.max_storage_buffer_binding_size.min(lim.max_buffer_size)) / 16 * 16;
    let secs = time_two_buffer_kernel(
        ctx,
        "reference_copy",
        crate::gpu::shaders::REFERENCE_COPY,
        bytes,
        bytes / 16,
        reps,
    )?;
    Ok(2.0 * bytes as f64 * reps as f64 / secs / 1e9)
}

/// Seconds for `reps` dispatches of `source`'s `main` over `threads` invocations, binding two
/// `bytes`-long buffers (x read, y read-write), after warm-up passes for [`GPU_WARM_UP`].
fn time_two_buffer_kernel(
    ctx: &GpuContext,
    name: &str,
    source: &str,
    bytes: u64,
    threads: u64,
    reps: usize,
) -> Result<f64> {
    use wgpu::BufferUsages as U;
    let x = ctx.buffer("ref x", bytes, U::STORAGE)?;
    let y = ctx.buffer("ref y", bytes, U::STORAGE)?;
    let module = ctx.shader(name, source)?;
    let pipeline = ctx
        .device
        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(name),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
    let bg = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: x.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: y.as_entire_binding(),
            },
        ],
    });
    let wgs = threads.div_ceil(256);
    let (gx, gy) = crate::gpu::engine::tile(
        wgs,
        ctx.limits().max_compute_workgroups_per_dimension as u64,
    );
    let ts = ctx.has_timestamps();
    let qs = ts.then(|| {
        ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: None,
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        })
    });
    let resolve = ctx.buffer("ref ts", 16, U::QUERY_RESOLVE | U::COPY_SRC)?;
    let run = |reps: usize| -> Result<f64> {
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes: qs.as_ref().map(|q| wgpu::ComputePassTimestampWrites {
                    query_set: q,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                }),
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bg, &[]);
            for _ in 0..reps {
                pass.dispatch_workgroups(gx as u32, gy as u32, 1);
            }
        }
        if let Some(q) = &qs {
            enc.resolve_query_set(q, 0..2, &resolve, 0);
        }
        let t = Instant::now();
        let idx = ctx.queue.submit([enc.finish()]);
        ctx.wait(Some(idx))?;
        let wall = t.elapsed().as_secs_f64();
        if ts {
            let raw = ctx.read_buffer(&resolve, 16)?;
            let t: &[u64] = bytemuck::cast_slice(&raw);
            Ok(t[1].wrapping_sub(t[0]) as f64 * ctx.queue.get_timestamp_period() as f64 * 1e-9)
        } else {
            Ok(wall)
        }
    };
    // Warm-up passes for at least GPU_WARM_UP, so that the timed one runs at full clocks.
    keep_busy(Instant::now(), GPU_WARM_UP, 1, || {
        run(reps.clamp(2, 20)).map(|_| ())
    })?;
    run(reps)
}

/// Call `f` at least `at_least` times and until `min` has passed since `since`: the untimed
/// work that brings a GPU's clocks up before a measurement ([`DEFAULT_MIN_TIME`]).
fn keep_busy(
    since: Instant,
    min: Duration,
    at_least: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<()> {
    let mut calls = 0;
    while calls < at_least || since.elapsed() < min {
        f()?;
        calls += 1;
    }
    Ok(())
}

/// How long [`time_two_buffer_kernel`] (the copy and reference kernels) warms the GPU up.
const GPU_WARM_UP: Duration = Duration::from_millis(300);

/// Time one interactive step at `n` LIF neurons driven on the device (bias and noise): submit,
/// compute, read back the bitmask, waiting the way `ctx` is set to
/// ([`GpuContext::spin_wait`]). The result's µs per step (and seconds, updates/s) are the
/// median of `reps` steps; its path is `gpu-interactive` (blocking at once) or
/// `gpu-interactive-poll` (polling first). Steps run untimed for `min_time` first (see
/// [`DEFAULT_MIN_TIME`]), as in a session that has been stepping a while.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return Ok(()) }; // no GPU adapter here
/// let r = glifsim::bench::interactive_step(&Arc::new(ctx), 10_000, 20, 1.0, Duration::ZERO)?;
/// let [p10, p90] = r.spread_us.unwrap();
/// assert!(p10 <= r.us_per_step && r.us_per_step <= p90);
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn interactive_step(
    ctx: &Arc<GpuContext>,
    n: usize,
    reps: usize,
    copy_gb_s: f64,
    min_time: Duration,
) -> Result<BenchResult> {
    let pop = bench_population(Model::Lif, n)?;
    let drive = noise_drive();
    let gopts = GpuOptions {
        host_inputs: false,
        ..Default::default()
    };
    let mut sim = GpuSim::with_drive(ctx.clone(), &pop, 1, &drive, &gopts)?;
    let opts = StepOptions::default();
    keep_busy(Instant::now(), min_time, 5, || {
        sim.step_driven(opts).map(|_| ())
    })?;
    let mut times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let t = Instant::now();
            sim.step_driven(opts).map(|_| t.elapsed().as_secs_f64())
        })
        .collect::<Result<_>>()?;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize] * 1e6;
    let spread = [at(0.1), at(0.9)];
    let path = if ctx.spin_wait().is_zero() {
        "gpu-interactive"
    } else {
        "gpu-interactive-poll"
    };
    Ok(result(
        &pop,
        path,
        1,
        times.len(),
        median,
        bytes_per_update(&pop, Refractory::Bit, false, 1, sim.has_noise_cache()),
        copy_gb_s,
        kernel_of(&sim),
        &ctx.adapter().name,
    )
    .built_by(&sim)
    .with_spread(spread))
}

/// Print results as an aligned table (`p/n`: parameters with one value per neuron): updates
/// per second from wall time and from GPU time;
/// GB/s and the fraction of copy bandwidth from GPU time where the adapter has timestamps.
///
/// ```
/// use glifsim::{bench, Model};
/// let r = bench::bench_cpu(&bench::bench_population(Model::Lif, 10_000)?, 10, 20.0)?;
/// bench::print_table(&[r]); // a header line, then one line per result
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn print_table(results: &[BenchResult]) {
    println!(
        "{:<6} {:<15} {:<6} {:>11} {:>4} {:>7} {:>11} {:>11} {:>11} {:>11} {:>8} {:>10} {:>10} {:>7}  device",
        "model",
        "path",
        "kernel",
        "neurons",
        "p/n",
        "steps",
        "updates/s",
        "GPU upd/s",
        "µs/step",
        "GPU µs/step",
        "B/upd",
        "GB/s",
        "copy GB/s",
        "of copy"
    );
    for r in results {
        println!(
            "{:<6} {:<15} {:<6} {:>11} {:>4} {:>7} {:>11.3e} {:>11} {:>11.1} {:>11} {:>8.3} {:>10.1} {:>10.1} {:>6.1}%  {}",
            r.model,
            r.path,
            r.kernel,
            r.neurons,
            r.per_neuron_params,
            r.steps,
            r.updates_per_s,
            r.gpu_updates_per_s.map_or("-".into(), |u| format!("{u:.3e}")),
            r.us_per_step,
            r.gpu_us_per_step.map_or("-".into(), |u| format!("{u:.1}")),
            r.bytes_per_update,
            r.effective_gb_s,
            r.copy_gb_s,
            100.0 * r.fraction_of_copy,
            r.device
        );
    }
}
