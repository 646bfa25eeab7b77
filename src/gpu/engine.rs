//! The GPU engine: buffers, pipelines and the recording of many steps per submission.
//!
//! A population is cut into *shards* of whole spike words so that no binding exceeds the
//! device's storage-binding limit; each shard has its own state, parameter, input and spike
//! buffers and one bind group. A run is cut into *chunks* of steps: each chunk uploads its
//! inputs `[T][B][N]`, records one dispatch per step and shard into one submission, and copies
//! the spike rows into one of two staging buffers, so that the readback of chunk k overlaps the
//! compute of chunk k+1.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::frame::{words_per_trial, SpikeFrame, SpikeRecord};
use crate::gpu::context::{env_flag, GpuContext};
use crate::gpu::shaders;
use crate::input::{check_input, Drive};
use crate::model::Population;
use crate::noise::NOISE_TABLE_LEN;
use crate::state::{Sampling, State, StepOptions};

mod sample;
mod state;
use sample::SampleLayout;

const WORKGROUP: u64 = 256;
/// Dispatch flag (shaders/common.wgsl): the noise cache holds the first quad's block.
const FLAG_NOISE_CACHED: u32 = 8;
/// Bytes between per-dispatch uniforms (the largest min_uniform_buffer_offset_alignment).
const DISPATCH_STRIDE: u64 = 256;
/// Largest spike buffer of one chunk (per shard), bytes.
const SPIKE_CHUNK_BYTES: u64 = 256 << 20;
/// The most threshold components the GPU path supports (θ is held in registers).
///
/// ```
/// use glifsim::{gpu::{GpuContext, GpuSim, MAX_K}, Model, Population};
/// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
/// let many = Population::builder(Model::Alif, 10)
///     .adapt_time_constants(vec![20.0.into(); MAX_K + 1])
///     .adapt_increments(vec![1.0.into(); MAX_K + 1])
///     .build()?; // fine on the CPU path
/// assert!(GpuSim::new(std::sync::Arc::new(ctx), &many, 1).is_err());
/// # Ok::<(), glifsim::Error>(())
/// ```
pub const MAX_K: usize = 8;
/// [`GpuSim::state_of`] reads the listed neurons of a shard in runs: two listed neurons with
/// fewer than this many unlisted ones between them share a run (reading at most 4 KB more
/// per array instead of one more copy), so that a readback of any set of neurons takes at most
/// N / 1024 + 1 copies per array.
///
/// ```
/// use glifsim::gpu::STATE_OF_RUN_GAP;
/// // Neurons 10 and 900 are read in one copy (889 values between them); 10 and 5000 in two.
/// assert!(900 - 10 < STATE_OF_RUN_GAP && 5000 - 10 > STATE_OF_RUN_GAP);
/// ```
pub const STATE_OF_RUN_GAP: usize = 1024;

/// Tuning knobs of the GPU engine.
///
/// ```
/// use std::sync::Arc;
/// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, input::Drive, Model, Population};
/// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
/// let pop = Population::builder(Model::Lif, 100_000).build()?;
/// // A run driven only by the device's own input needs no host-input buffer.
/// let opts = GpuOptions { host_inputs: false, chunk_steps: 500, ..Default::default() };
/// let sim = GpuSim::with_drive(Arc::new(ctx), &pop, 1, &Drive { bias: 20.0.into(), ..Default::default() }, &opts)?;
/// assert!(sim.device_memory().inputs <= 16);
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GpuOptions {
    /// Steps per submission (the input chunk), capped by the binding limit. Default 100.
    pub chunk_steps: usize,
    /// Largest shard, in neurons (rounded down to a multiple of 256). `None`: as large as the
    /// device's binding limit allows. Tests force small values to exercise splitting.
    pub max_shard_neurons: Option<usize>,
    /// Allocate the `[T][B][N]` buffer for host-streamed inputs (default true). Runs driven only
    /// by a [`Drive`] can turn it off to save 4·T·B·N bytes.
    pub host_inputs: bool,
    /// Advance a whole chunk of steps per dispatch with the state in registers (default true).
    /// False records one dispatch per step; both give identical results.
    pub fused: bool,
    /// Use only core-WGSL kernel variants (spike words by workgroup atomics, Philox's multiply
    /// from 16-bit halves, the dispatch table in a uniform buffer) even where the adapter
    /// offers subgroups, 64-bit integers and immediates. The results are identical; this
    /// exists to test that and to work around driver bugs.
    pub portable: bool,
    /// With a noise drive, keep words 1–3 of each neuron's current Philox block in device
    /// memory (12 bytes per neuron and trial), so that a dispatch that starts inside a quad of
    /// steps (every dispatch but one in four, one step per dispatch, and so every interactive
    /// step) reads its noise instead of drawing the block again. The results are identical
    /// either way. `None` (the default): on for GPUs, off for CPU drivers such as lavapipe,
    /// which run the skipped draw anyway under a mask, so that the cache only adds work
    /// (per-step noise 15 % slower there); `GLIFSIM_NO_NOISE_CACHE=1` turns the default off.
    pub noise_cache: Option<bool>,
    /// Step four neurons per invocation, moving V, the state components, the host input and
    /// the noise cache as 16-byte vectors (the access a copy kernel makes at full bandwidth)
    /// instead of one neuron per invocation with 4-byte accesses; the results are identical.
    /// It serves every model with at most one threshold component and two after-spike
    /// currents, with any input (see [`GpuOptions::wide_serves`]); where the neuron count is
    /// not a multiple of 4, the last partial spike word's neurons (fewer than 32) run in a
    /// shard of their own on the lane kernel. `None` (the default): on wherever it serves,
    /// unless `GLIFSIM_NO_WIDE=1`; `Some(true)` where it does not serve is an error.
    pub wide: Option<bool>,
}

impl GpuOptions {
    /// Whether the wide kernel ([`GpuOptions::wide`]) can run `pop`: at most one threshold
    /// component and two after-spike currents (LIF, GLIF1 and GLIF3; ALIF, GLIF2, GLIF4 and
    /// GLIF5 with K = 1: the shape of the Allen Institute's fits), with or without θ_v. Any
    /// input and any neuron count serve (see [`GpuOptions::wide`] for counts that are not a
    /// multiple of 4).
    ///
    /// ```
    /// use glifsim::{gpu::GpuOptions, Model, Population};
    /// let lif = Population::builder(Model::Lif, 1_001).build()?;
    /// assert!(GpuOptions::wide_serves(&lif));
    /// // ALIF with one threshold component (K = 1) is served, with two it is not.
    /// let alif = glifsim::bench::bench_population(Model::Alif, 1_000)?;
    /// assert!(GpuOptions::wide_serves(&alif));
    /// let alif2 = Population::builder(Model::Alif, 1_000)
    ///     .adapt_time_constants(vec![20.0.into(), 200.0.into()])
    ///     .adapt_increments(vec![1.0.into(), 0.1.into()])
    ///     .build()?;
    /// assert!(!GpuOptions::wide_serves(&alif2));
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn wide_serves(pop: &Population) -> bool {
        pop.k() <= 1 && pop.j() <= 2
    }
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            chunk_steps: 100,
            max_shard_neurons: None,
            host_inputs: true,
            fused: true,
            portable: false,
            noise_cache: None,
            wide: None,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Info {
    n: u32,
    n_pad: u32,
    trials: u32,
    wg_x: u32,
    threads: u32,
    words: u32,
    n0: u32,
    seed_lo: u32,
    seed_hi: u32,
    dt: f32,
    /// Offset of the noise table in the params buffer.
    noise_table: u32,
    /// Offset (in words) of the refractory words in the spikes buffer.
    refr_base: u32,
}

/// Size of [`DispatchInfo`] (`Dispatch` in shaders/common.wgsl): what the device's immediates
/// must hold for [`GpuContext::has_immediates`].
pub(crate) const DISPATCH_BYTES: u32 = std::mem::size_of::<DispatchInfo>() as u32;

/// Which steps one dispatch runs; one per dispatch, as immediates or at a dynamic offset of
/// the control buffer. Chunk step t is global step base + t.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DispatchInfo {
    t0: u32,
    count: u32,
    flags: u32,
    base_lo: u32,
    base_hi: u32,
    _pad: [u32; 3],
}

struct Shard {
    /// First neuron of the shard.
    n0: usize,
    /// Neurons in the shard.
    n: usize,
    /// Spike words per trial in the shard.
    w: usize,
    v: wgpu::Buffer,
    r: wgpu::Buffer,
    theta: wgpu::Buffer,
    inputs: wgpu::Buffer,
    spikes: wgpu::Buffer,
    staging: [wgpu::Buffer; 2],
    /// Words 1–3 of the current Philox blocks, `[3][B][n]` (16-byte stand-in without).
    noise_cache: wgpu::Buffer,
    /// Runs the wide kernel (else the lane kernel), with this pipeline.
    wide: bool,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    dispatch: (u32, u32),
    _info: wgpu::Buffer,
    params: wgpu::Buffer,
}

/// The device memory a [`GpuSim`] holds, in bytes, by purpose (all shards together).
///
/// ```no_run
/// use std::sync::Arc;
/// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, Model, Population};
/// let ctx = Arc::new(GpuContext::new()?);
/// let pop = Population::builder(Model::Lif, 1_000_000).build()?;
/// let opts = GpuOptions { host_inputs: false, ..Default::default() };
/// let sim = GpuSim::with_options(ctx, &pop, 1, &opts)?;
/// let m = sim.device_memory();
/// assert!(m.state <= 8 * 1_000_000 + 16); // V and r: 8 bytes per LIF neuron
/// println!("{} bytes in all", m.total());
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceMemory {
    /// V, r and the θ / after-spike-current / θ_v components: `4·(2 + C)` bytes per neuron
    /// and trial (plus a 16-byte stand-in per shard where C = 0).
    pub state: u64,
    /// Parameters (one value, or one per neuron for per-neuron parameters) and the noise table.
    pub parameters: u64,
    /// The `[T][B][N]` host-input rows of one chunk (a 16-byte stand-in without host input).
    pub inputs: u64,
    /// One chunk's spike rows and the refractory bits (one bit per neuron and trial).
    pub spikes: u64,
    /// The two host-visible copies of a chunk's spike rows for readback.
    pub staging: u64,
    /// Words 1–3 of each neuron's current noise block ([`GpuOptions::noise_cache`]): 12
    /// bytes per neuron and trial with a noise drive (a 16-byte stand-in without).
    pub noise_cache: u64,
}

impl DeviceMemory {
    /// All of it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, input::Drive, Model, Population};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 10_000).build()?;
    /// let (drive, opts) = (Drive::default(), Default::default());
    /// let sim = GpuSim::with_drive(Arc::new(ctx), &pop, 1, &drive, &opts)?;
    /// let m = sim.device_memory();
    /// assert_eq!(m.total(), m.state + m.parameters + m.inputs + m.spikes + m.staging + m.noise_cache);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn total(&self) -> u64 {
        self.state + self.parameters + self.inputs + self.spikes + self.staging + self.noise_cache
    }
}

/// Where a run's host inputs come from.
#[derive(Clone, Copy)]
enum Feed<'a> {
    Host(&'a [f32]),
    Resident,
    None,
}

impl<'a> Feed<'a> {
    /// Host inputs where there are some, else none.
    fn of(inputs: Option<&'a [f32]>) -> Self {
        inputs.map_or(Feed::None, Feed::Host)
    }
}

/// Lay `wgs` workgroups out as `wg_x × wg_y` with `wg_x ≤ max_dim` and as few spare
/// workgroups as possible: the fewest rows, then the shortest row that holds them. (Filling
/// rows of `max_dim` first would launch 65,534 idle workgroups for 65,536, at 16M neurons.)
pub(crate) fn tile(wgs: u64, max_dim: u64) -> (u64, u64) {
    let wg_y = wgs.div_ceil(max_dim).max(1);
    (wgs.div_ceil(wg_y).max(1), wg_y)
}

/// Bytes of device memory one shard of `n` neurons needs: V and r, `k` components, the
/// per-neuron parameter regions (`per_neuron_slots` of `region` values each: every shard's
/// regions are as long as the largest shard's, the kernels' stride), the input rows of `t_in`
/// steps (0 without host input), the spike rows of a `t`-step chunk with their two staging
/// copies, and the noise cache's three words per neuron and trial (`cache`).
#[allow(clippy::too_many_arguments)]
fn shard_bytes(
    n: usize,
    trials: usize,
    k: usize,
    per_neuron_slots: usize,
    region: usize,
    t: usize,
    t_in: usize,
    cache: bool,
) -> u64 {
    let bn = (trials * n) as u64 * 4;
    let words = (trials * words_per_trial(n)) as u64 * 4 * t as u64;
    let cache = if cache { 3 * bn } else { 0 };
    bn * 2
        + bn * k as u64
        + (per_neuron_slots * region) as u64 * 4
        + bn * t_in as u64
        + words * 3
        + cache
}

/// How a GPU simulator would lay a population out on a device ([`GpuSim::layout`]).
///
/// ```
/// use std::sync::Arc;
/// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, input::Drive, Model, Population};
/// // A device whose storage bindings hold 1 MiB: 3M LIF neurons need several shards.
/// let Ok(ctx) = GpuContext::with_binding_limit(None, 1 << 20) else { return Ok(()) };
/// let pop = Population::builder(Model::Lif, 3_000_000).build()?;
/// let opts = GpuOptions { host_inputs: false, ..Default::default() };
/// let l = GpuSim::layout(&ctx, &pop, 1, &Drive::default(), &opts)?;
/// assert!(l.shards >= 3 && l.largest_shard <= 1 << 18);
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GpuLayout {
    /// Shards ([`GpuSim::shard_count`]): pieces of the population, each within the device's
    /// storage binding limit (and, where the wide kernel runs, a shard for the last partial
    /// spike word's neurons).
    pub shards: usize,
    /// Neurons in the largest shard.
    pub largest_shard: usize,
    /// Steps per submission, after the binding limit's cap on [`GpuOptions::chunk_steps`].
    pub chunk_steps: usize,
    /// Bytes of device memory ([`GpuSim::memory_needed`]).
    pub device_bytes: u64,
    /// Bytes of host memory a run holds besides: the frame of a chunk's spike words that
    /// the shards' rows are assembled into, where there are several (0 for one shard, whose
    /// rows are read where they are mapped).
    pub host_bytes: u64,
}

/// How a population is laid out on a device, decided before anything is allocated.
struct Plan {
    /// Keep the noise cache ([`GpuOptions::noise_cache`]).
    cache: bool,
    /// The shards: (first neuron, neurons, wide kernel).
    shard_list: Vec<(usize, usize, bool)>,
    /// The largest shard allowed, in neurons.
    shard_max: usize,
    /// The largest shard made, in neurons.
    largest: usize,
    /// Steps per chunk.
    chunk: usize,
    /// Bytes of device memory the shards need.
    needed: u64,
    /// Bytes of host memory a run assembles a chunk's spike words in (several shards).
    host: u64,
    /// Parameter slots with one value per neuron (the population's and the drive's).
    per_neuron_slots: usize,
}

/// The layout of `pop` × `trials` on `ctx`'s device with `drive` and `opts` (the drive
/// already validated): shard sizes within the device's binding limit, steps per chunk, and
/// the bytes they need. Errors for what the GPU path cannot hold at all.
fn plan(
    ctx: &GpuContext,
    pop: &Population,
    trials: usize,
    drive: &Drive,
    opts: &GpuOptions,
) -> Result<Plan> {
    if trials == 0 {
        return Err(Error::Usage("trials must be ≥ 1".into()));
    }
    let comps = pop.components();
    if comps > MAX_K {
        return Err(Error::Usage(format!(
            "the GPU path holds at most {MAX_K} state components per neuron (θ_k, after-spike currents, θ_v); this population has {comps}"
        )));
    }
    let lim = ctx.limits();
    let max_bind = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
    // The kernel's parameter slots: the population's, then the drive's offset (bias plus
    // noise mean) and gain (from the noise's standard deviation), per neuron where any of
    // their terms is; counted without building the per-neuron arrays.
    let params = pop.param_list();
    let noise = drive.noise.as_ref();
    let offset_pn = drive.bias.is_per_neuron() || noise.is_some_and(|z| z.mean.is_per_neuron());
    let gain_pn = noise.is_some_and(|z| z.std.is_per_neuron());
    let slots = params.len() + 2;
    let per_neuron_slots = params.iter().filter(|(_, p)| p.is_per_neuron()).count()
        + usize::from(offset_pn)
        + usize::from(gain_pn);
    // Largest shard: every per-shard binding of one step must fit one binding (the noise
    // cache has three words per neuron and trial).
    let cache = drive.noise.is_some()
        && opts
            .noise_cache
            .unwrap_or_else(|| !ctx.adapter().is_cpu() && !env_flag("GLIFSIM_NO_NOISE_CACHE"));
    let serves = GpuOptions::wide_serves(pop);
    let wide = match opts.wide {
        Some(true) if !serves => {
            return Err(Error::Usage(format!(
                "the wide GPU kernel (GpuOptions::wide) serves populations with at most one threshold component and two after-spike currents; this is {} with {} threshold components and {} after-spike currents",
                pop.model(),
                pop.k(),
                pop.j(),
            )))
        }
        Some(w) => w,
        None => serves && !env_flag("GLIFSIM_NO_WIDE"),
    };
    let widest = comps.max(if cache { 3 } else { 1 });
    let per_neuron_bytes = 4 * (trials as u64) * (widest as u64);
    let mut shard_max = max_bind / per_neuron_bytes;
    // params: one value per slot (padded to a multiple of 4), a region of one shard's length
    // (rounded up to 4) for each per-neuron slot, the noise table, and up to 3 values padding
    // the whole to 16 bytes.
    let head = slots.next_multiple_of(4) as u64 + 2 * NOISE_TABLE_LEN as u64 + 3;
    if per_neuron_slots > 0 {
        let room = (max_bind / 4).saturating_sub(head);
        shard_max = shard_max.min(room / per_neuron_slots as u64);
    }
    if shard_max < WORKGROUP {
        // Not even one workgroup's shard fits a binding (a small limit, many trials).
        let smallest =
            (WORKGROUP * per_neuron_bytes).max(4 * (head + WORKGROUP * per_neuron_slots as u64));
        return Err(Error::TooLarge {
            needed: smallest,
            available: Some(max_bind),
            what: format!(
                "bytes in one storage binding of {} for a shard of {WORKGROUP} neurons × {trials} trial(s) (the smallest; fewer trials per simulator fit)",
                ctx.adapter().name
            ),
        });
    }
    // Invocation indices are u32 in the shader: keep B · n_pad below 2³¹ (a binding of at
    // most 4 GiB, as every backend's is, already holds fewer than 256 × 2²³ values).
    shard_max = shard_max.min((1u64 << 31) / trials as u64);
    if let Some(m) = opts.max_shard_neurons {
        shard_max = shard_max.min(m as u64);
    }
    let shard_max = (shard_max / WORKGROUP * WORKGROUP).max(WORKGROUP) as usize;
    let n = pop.len();
    let largest = n.min(shard_max);
    // The shards (first neuron, neurons, wide kernel or not): runs of `shard_max`, where the
    // wide kernel gives a shard whose count is not a multiple of 4 (the last) its whole
    // spike words and leaves its partial last word (< 32 neurons) to a lane shard, since a
    // vector of four neurons must not straddle two trials.
    let shard_list: Vec<(usize, usize, bool)> = (0..n.div_ceil(shard_max))
        .flat_map(|s| {
            let (n0, ns) = (s * shard_max, shard_max.min(n - s * shard_max));
            let head = if !wide {
                0
            } else if ns % 4 == 0 {
                ns
            } else {
                ns / 32 * 32
            };
            [(n0, head, true), (n0 + head, ns - head, false)]
                .into_iter()
                .filter(|&(_, k, _)| k > 0)
        })
        .collect();
    // Steps per chunk: inputs [T][B][n] must fit one binding.
    let mut chunk = opts.chunk_steps.max(1) as u64;
    if opts.host_inputs {
        chunk = chunk.min(max_bind / (4 * (trials * largest) as u64)).max(1);
    }
    // The device memory of the shards with `t`-step chunks.
    let bytes_with = |t: usize| -> u64 {
        shard_list
            .iter()
            .map(|&(_, ns, _)| {
                shard_bytes(
                    ns,
                    trials,
                    comps,
                    per_neuron_slots,
                    largest.next_multiple_of(4),
                    t,
                    if opts.host_inputs { t } else { 0 },
                    cache,
                )
            })
            .sum()
    };
    // One more row follows a chunk's spike rows: the refractory words. A shard's spike rows of
    // one chunk (and each of their two staging copies) stay within 256 MiB and one binding;
    // all shards' together (and the host's copy of them that a run of several shards
    // assembles) within 256 MiB or an eighth of the rest of the simulator's memory, whichever
    // is more, so that they grow with the population, not with the number of shards (10⁹ LIF
    // neurons on lavapipe's 128 MiB bindings are 30 shards: 31 steps each would be 3.9 GB per
    // copy, next to 8 GB of state).
    let row_bytes = (trials * words_per_trial(largest) * 4) as u64;
    let all_rows: u64 = shard_list
        .iter()
        .map(|&(_, ns, _)| (trials * words_per_trial(ns) * 4) as u64)
        .sum();
    let rest = bytes_with(0);
    let rows_allowed = (SPIKE_CHUNK_BYTES.min(max_bind) / row_bytes)
        .min(SPIKE_CHUNK_BYTES.max(rest / 8) / all_rows);
    chunk = chunk.min(rows_allowed.saturating_sub(1).max(1));
    let chunk = chunk as usize;
    let needed = bytes_with(chunk);
    let host = if shard_list.len() > 1 {
        chunk as u64 * (trials * words_per_trial(n) * 4) as u64
    } else {
        0
    };
    Ok(Plan {
        cache,
        shard_list,
        shard_max,
        largest,
        chunk,
        needed,
        host,
        per_neuron_slots,
    })
}

/// A population on the GPU: f32 state for B trials × N neurons.
///
/// ```no_run
/// use std::sync::Arc;
/// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population, StepOptions};
/// let ctx = Arc::new(GpuContext::new()?);
/// let pop = Population::builder(Model::Lif, 1_000_000).build()?;
/// let mut sim = GpuSim::new(ctx, &pop, 1)?;
/// let inputs = vec![16.0f32; 100 * 1_000_000];
/// let spikes = sim.run(100, &inputs, StepOptions::default())?;
/// println!("{} spikes", spikes.count());
/// # Ok::<(), glifsim::Error>(())
/// ```
pub struct GpuSim {
    ctx: Arc<GpuContext>,
    pop: Population,
    trials: usize,
    shards: Vec<Shard>,
    ctrl_buf: wgpu::Buffer,
    disp_off: u64,
    chunk: usize,
    steps: u64,
    drive: Drive,
    opts: GpuOptions,
    /// With the noise cache: the step at which it holds words 1–3 of every neuron's block
    /// (the end of the last dispatch, inside a quad of steps); the next dispatch uses them
    /// only if it starts there. `None` is always safe: the block is drawn again.
    noise_cached_at: Option<u64>,
    /// Whether this simulator has the noise cache (a noise drive and the option).
    noise_cache: bool,
    /// Whether the kernels take the dispatch table as immediates
    /// ([`GpuContext::has_immediates`], not with `portable`), else from `ctrl_buf`.
    immediates: bool,
    /// The dispatch table of the chunk being recorded (`write_step_uniforms`).
    dispatches: Vec<DispatchInfo>,
    /// The kernels built and their variants ([`GpuSim::kernel_variants`]).
    kernels: String,
}

impl std::fmt::Debug for GpuSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuSim")
            .field("model", &self.pop.model())
            .field("neurons", &self.pop.len())
            .field("trials", &self.trials)
            .field("shards", &self.shards.len())
            .field("chunk_steps", &self.chunk)
            .field(
                "kernels",
                &self
                    .shards
                    .iter()
                    .map(|s| if s.wide { "wide" } else { "lane" })
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl GpuSim {
    /// Upload a population at its initial state, with default options.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 1000).v_rest(-60.0).build()?;
    /// let sim = GpuSim::new(Arc::new(ctx), &pop, 2)?;
    /// assert_eq!(sim.state()?.v, vec![-60.0; 2000]);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn new(ctx: Arc<GpuContext>, pop: &Population, trials: usize) -> Result<Self> {
        Self::with_options(ctx, pop, trials, &GpuOptions::default())
    }

    /// Upload a population at its initial state.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let ctx = Arc::new(ctx);
    /// let pop = Population::builder(Model::Lif, 1000).build()?;
    /// let x = vec![40.0f32; 300 * 1000];
    /// // One dispatch per step, or many steps per dispatch: the same spikes.
    /// let per_step = GpuOptions { fused: false, ..Default::default() };
    /// let mut a = GpuSim::with_options(ctx.clone(), &pop, 1, &per_step)?;
    /// let mut b = GpuSim::new(ctx, &pop, 1)?;
    /// let o = StepOptions::default();
    /// assert_eq!(a.run(300, &x, o)?, b.run(300, &x, o)?);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn with_options(
        ctx: Arc<GpuContext>,
        pop: &Population,
        trials: usize,
        opts: &GpuOptions,
    ) -> Result<Self> {
        Self::with_drive(ctx, pop, trials, &Drive::default(), opts)
    }

    /// Bytes of device memory [`GpuSim::with_drive`] would allocate for `pop` × `trials` with
    /// `drive` and `opts` on `ctx`'s device, without allocating them (state, parameters, one
    /// chunk's inputs and spike rows with their staging copies, the noise cache; not the few
    /// kilobytes of control buffers). Errors where the GPU path cannot hold the population at
    /// all, as `with_drive` would.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, input::Drive, Model, Population};
    /// let ctx = Arc::new(GpuContext::new()?);
    /// let pop = Population::builder(Model::Lif, 1_000_000_000).build()?;
    /// let opts = GpuOptions { host_inputs: false, ..Default::default() };
    /// let bytes = GpuSim::memory_needed(&ctx, &pop, 1, &Drive::default(), &opts)?;
    /// println!("{:.1} GB", bytes as f64 / 1e9);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn memory_needed(
        ctx: &GpuContext,
        pop: &Population,
        trials: usize,
        drive: &Drive,
        opts: &GpuOptions,
    ) -> Result<u64> {
        Ok(Self::layout(ctx, pop, trials, drive, opts)?.device_bytes)
    }

    /// How [`GpuSim::with_drive`] would lay `pop` × `trials` out on `ctx`'s device with
    /// `drive` and `opts`, without allocating anything: its shards, steps per submission and
    /// device memory ([`GpuSim::memory_needed`]). Errors where the GPU path cannot hold the
    /// population at all, as `with_drive` would.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, input::Drive, Model, Population};
    /// let ctx = Arc::new(GpuContext::new()?);
    /// let pop = Population::builder(Model::Lif, 1_000_000_000).build()?;
    /// let opts = GpuOptions { host_inputs: false, ..Default::default() };
    /// let l = GpuSim::layout(&ctx, &pop, 1, &Drive::default(), &opts)?;
    /// println!("{} shards of at most {} neurons, {:.1} GB", l.shards, l.largest_shard,
    ///     l.device_bytes as f64 / 1e9);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn layout(
        ctx: &GpuContext,
        pop: &Population,
        trials: usize,
        drive: &Drive,
        opts: &GpuOptions,
    ) -> Result<GpuLayout> {
        drive.validate(pop.len())?;
        let p = plan(ctx, pop, trials, drive, opts)?;
        Ok(GpuLayout {
            shards: p.shard_list.len(),
            largest_shard: p.largest,
            chunk_steps: p.chunk,
            device_bytes: p.needed,
            host_bytes: p.host,
        })
    }

    /// Upload a population at its initial state, with on-device input currents.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, input::{Drive, Noise}, CpuSim, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 5000).build()?;
    /// let drive = Drive {
    ///     bias: 14.0.into(),
    ///     noise: Some(Noise { mean: 0.0.into(), std: 30.0.into(), seed: 9 }),
    ///     schedule: vec![(200, 5.0)],
    /// };
    /// let opts = GpuOptions { host_inputs: false, ..Default::default() };
    /// let mut g = GpuSim::with_drive(Arc::new(ctx), &pop, 1, &drive, &opts)?;
    /// // The CPU path in the adapter's arithmetic draws the same noise: the same spikes.
    /// let mut c = CpuSim::<f32>::new(&pop, 1, g.context().arith())?;
    /// c.set_drive(drive)?;
    /// let o = StepOptions::default();
    /// assert_eq!(g.run_driven(400, o)?, c.run_driven(400, o)?);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn with_drive(
        ctx: Arc<GpuContext>,
        pop: &Population,
        trials: usize,
        drive: &Drive,
        opts: &GpuOptions,
    ) -> Result<Self> {
        Ok(Self::build(ctx, pop, trials, drive, opts, None)?.0)
    }

    /// [`GpuSim::with_drive`]; with `reuse`, a simulator of the same population, trials and
    /// options, whose state, input, spike and staging buffers the new one takes over where
    /// the plan cuts the population into the same shards (`GpuSim::set_drive`). The flag says
    /// whether it did.
    fn build(
        ctx: Arc<GpuContext>,
        pop: &Population,
        trials: usize,
        drive: &Drive,
        opts: &GpuOptions,
        reuse: Option<&GpuSim>,
    ) -> Result<(Self, bool)> {
        drive.validate(pop.len())?;
        let Plan {
            cache,
            shard_list,
            shard_max,
            largest,
            chunk,
            needed,
            per_neuron_slots,
            ..
        } = plan(&ctx, pop, trials, drive, opts)?;
        let (n, nshards) = (pop.len(), shard_list.len());
        let k = pop.k();
        let comps = pop.components();
        let (offset, gain) = (drive.offset(pop.len()), drive.gain());
        let mut slots_list = pop.param_list();
        slots_list.insert(8, ("offset", &offset));
        slots_list.insert(9, ("gain", &gain));
        // The plan counted the per-neuron slots from the drive's terms without building them.
        debug_assert_eq!(
            per_neuron_slots,
            slots_list.iter().filter(|(_, p)| p.is_per_neuron()).count()
        );
        log::debug!(
            "GPU population: {n} neurons × {trials} trials in {nshards} shard(s) of ≤ {shard_max}, {chunk} steps per chunk, {needed} bytes; shards {:?} (first neuron, neurons, wide kernel)",
            shard_list
        );
        // A CPU driver's device memory is the host's, which it takes without asking (Linux
        // overcommits) and then touches to clear: an oversized population would end in an
        // out-of-memory kill instead of this error. A GPU refuses what it cannot hold.
        if ctx.adapter().is_cpu() {
            crate::cpu::check_host_memory(
                needed,
                &format!(
                    "bytes of host memory (MemAvailable), which the CPU driver '{}' allocates device memory from",
                    ctx.adapter().name
                ),
            )?;
        }

        // Pipeline constants: the parameter layout, K and the input kinds are fixed per
        // population, so the driver folds every parameter lookup to one load.
        let pn_mask: u64 = slots_list
            .iter()
            .enumerate()
            .filter(|(_, (_, p))| p.is_per_neuron())
            .map(|(i, _)| 1u64 << i)
            .sum();
        if slots_list.len() > 64 {
            return Err(Error::Usage(format!(
                "the GPU path supports at most 64 parameter slots, this population has {}",
                slots_list.len()
            )));
        }
        // Regions of a multiple of 4 values after a head of one value per slot padded to a
        // multiple of 4, so that each region starts on 16 bytes (the wide kernel's vectors).
        let stride = if pn_mask == 0 {
            4
        } else {
            largest.next_multiple_of(4)
        };
        let param_base = slots_list.len().next_multiple_of(4);
        let mut constants: Vec<(&str, f64)> = vec![
            ("K", k as f64),
            ("J", pop.j() as f64),
            ("NC", comps as f64),
            ("PN_MASK", (pn_mask & 0xffff_ffff) as f64),
            ("PN_MASK_HI", (pn_mask >> 32) as f64),
            ("STRIDE", stride as f64),
            ("PARAM_BASE", param_base as f64),
            ("HOST_INPUT", if opts.host_inputs { 1.0 } else { 0.0 }),
            ("NOISE", if drive.noise.is_some() { 1.0 } else { 0.0 }),
            (
                "HAS_SCHED",
                if drive.schedule.is_empty() { 0.0 } else { 1.0 },
            ),
            ("ONE_TRIAL", if trials == 1 { 1.0 } else { 0.0 }),
            ("NOISE_CACHE", if cache { 1.0 } else { 0.0 }),
            // One step per dispatch (write_step_uniforms): the kernel's loop runs once.
            ("ONE_STEP", if opts.fused { 0.0 } else { 1.0 }),
        ];
        let model = pop.model();
        // Every step kernel declares GLIF2 (common.wgsl); LIF and GLIF1 take its default.
        if model.has_glif_reset() {
            constants.push(("GLIF2", 1.0));
        }
        if model.has_asc() {
            let thv = if model.has_theta_v() { 1.0 } else { 0.0 };
            constants.push(("THETA_V", thv));
        }
        let int64 = ctx.has_int64() && !opts.portable;
        let immediates = ctx.has_immediates() && !opts.portable;
        let layout = bind_group_layout(&ctx.device);
        let pl = ctx
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("step"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: if immediates { DISPATCH_BYTES } else { 0 },
            });
        // What each kernel is built with: [lane, wide].
        let variants = [
            shaders::Variant {
                ballot: ctx.lane_subgroup_entry() && !opts.portable,
                int64,
                immediates,
            },
            shaders::Variant {
                ballot: ctx.wide_ballot() && !opts.portable,
                int64,
                immediates,
            },
        ];
        // The step pipeline of the lane kernel or of the wide one, built for the first shard
        // that runs it.
        let build = |is_wide: bool| -> Result<wgpu::ComputePipeline> {
            let v = variants[usize::from(is_wide)];
            let module = if is_wide {
                ctx.shader(
                    &format!("{} (wide)", pop.model().name()),
                    &shaders::wide_source_runtime(v)?,
                )?
            } else {
                ctx.shader(
                    pop.model().name(),
                    &shaders::step_source_runtime(pop.model(), v)?,
                )?
            };
            let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let pipeline = ctx
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(if is_wide { "step (wide)" } else { "step" }),
                    layout: Some(&pl),
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &constants,
                        ..Default::default()
                    },
                    cache: None,
                });
            match pollster::block_on(scope.pop()) {
                Some(e) => Err(Error::Device(format!("step pipeline: {e}"))),
                None => Ok(pipeline),
            }
        };
        let mut pipelines: [Option<wgpu::ComputePipeline>; 2] = [None, None];
        // One control buffer, written once per chunk: the schedule values [chunk] at offset 0,
        // then the dispatch table (one entry per dispatch, DISPATCH_STRIDE apart).
        use wgpu::BufferUsages as U;
        let steps_bytes = (4 * chunk) as u64;
        let disp_off = steps_bytes.next_multiple_of(DISPATCH_STRIDE);
        let ctrl_buf = ctx.buffer(
            "control",
            disp_off + DISPATCH_STRIDE * chunk as u64,
            U::UNIFORM | U::STORAGE | U::COPY_DST,
        )?;

        // The shards of `reuse`, where the plan cuts the population the same way.
        let keep: Option<&[Shard]> = reuse
            .filter(|old| {
                old.chunk == chunk
                    && old.shards.len() == nshards
                    && old
                        .shards
                        .iter()
                        .zip(&shard_list)
                        .all(|(s, &(n0, ns, wide))| (s.n0, s.n, s.wide) == (n0, ns, wide))
            })
            .map(|old| &old.shards[..]);
        let mut shards = Vec::with_capacity(nshards);
        let bufs = SharedBuffers {
            layout: &layout,
            ctrl: &ctrl_buf,
            steps_bytes,
            disp_off,
            stride,
            noise_cache: cache,
        };
        for (i, &(n0, ns, wide)) in shard_list.iter().enumerate() {
            let pipeline = match &pipelines[usize::from(wide)] {
                Some(p) => p.clone(),
                None => pipelines[usize::from(wide)].insert(build(wide)?).clone(),
            };
            let shard = make_shard(
                &ctx,
                pop,
                trials,
                n0,
                ns,
                chunk,
                &bufs,
                (wide, pipeline),
                &slots_list,
                drive,
                opts,
                keep.map(|k| &k[i]),
            )
            .map_err(|e| match e {
                Error::Device(msg) if msg.contains("out of device memory") => Error::TooLarge {
                    needed,
                    available: None,
                    what: format!("bytes of device memory ({msg})"),
                },
                other => other,
            })?;
            shards.push(shard);
        }
        let kernels = [(true, "wide"), (false, "lane")]
            .iter()
            .filter(|&&(w, _)| pipelines[usize::from(w)].is_some())
            .map(|&(w, name)| format!("{name} ({})", variants[usize::from(w)]))
            .collect::<Vec<_>>()
            .join("; ");
        let sim = GpuSim {
            kernels,
            ctx,
            pop: pop.clone(),
            trials,
            shards,
            ctrl_buf,
            disp_off,
            chunk,
            steps: 0,
            drive: drive.clone(),
            opts: opts.clone(),
            noise_cached_at: None,
            noise_cache: cache,
            immediates,
            dispatches: Vec::new(),
        };
        sim.ctx.take_error()?;
        Ok((sim, keep.is_some()))
    }

    /// The population.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// assert_eq!(GpuSim::new(Arc::new(ctx), &pop, 1)?.population(), &pop);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn population(&self) -> &Population {
        &self.pop
    }
    /// Number of trials B.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// assert_eq!(GpuSim::new(Arc::new(ctx), &pop, 4)?.trials(), 4);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn trials(&self) -> usize {
        self.trials
    }
    /// The device context.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let ctx = Arc::new(ctx);
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let sim = GpuSim::new(ctx.clone(), &pop, 1)?;
    /// assert!(Arc::ptr_eq(sim.context(), &ctx)); // simulators share one device
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.ctx
    }
    /// Number of shards the population was split into.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, Model, Population};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 1024).build()?;
    /// let opts = GpuOptions { max_shard_neurons: Some(256), ..Default::default() };
    /// assert_eq!(GpuSim::with_options(Arc::new(ctx), &pop, 1, &opts)?.shard_count(), 4);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }
    /// Steps recorded per submission.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, Model, Population};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 1000).build()?;
    /// let opts = GpuOptions { chunk_steps: 250, ..Default::default() };
    /// assert_eq!(GpuSim::with_options(Arc::new(ctx), &pop, 1, &opts)?.chunk_steps(), 250);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn chunk_steps(&self) -> usize {
        self.chunk
    }
    /// The device memory this simulator holds (buffer sizes; the driver may round them up).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 1 << 20).build()?;
    /// let m = GpuSim::new(Arc::new(ctx), &pop, 1)?.device_memory();
    /// assert_eq!(m.state, (8 << 20) + 16); // V and r, 8 bytes per LIF neuron (and a stand-in)
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn device_memory(&self) -> DeviceMemory {
        let mut m = DeviceMemory {
            state: 0,
            parameters: 0,
            inputs: 0,
            spikes: 0,
            staging: 0,
            noise_cache: 0,
        };
        for sh in &self.shards {
            m.state += sh.v.size() + sh.r.size() + sh.theta.size();
            m.parameters += sh.params.size();
            m.inputs += sh.inputs.size();
            m.spikes += sh.spikes.size();
            m.staging += sh.staging.iter().map(|b| b.size()).sum::<u64>();
            m.noise_cache += sh.noise_cache.size();
        }
        m
    }
    /// Whether this simulator keeps the noise cache ([`GpuOptions::noise_cache`]; only with a
    /// noise drive).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, input::{Drive, Noise}, Model, Population};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 1000).build()?;
    /// let noise = Drive { noise: Some(Noise { mean: 0.0.into(), std: 1.0.into(), seed: 1 }), ..Default::default() };
    /// let opts = GpuOptions { noise_cache: Some(true), ..Default::default() };
    /// let ctx = Arc::new(ctx);
    /// assert!(GpuSim::with_drive(ctx.clone(), &pop, 1, &noise, &opts)?.has_noise_cache());
    /// // Nothing to cache without noise.
    /// assert!(!GpuSim::with_options(ctx, &pop, 1, &opts)?.has_noise_cache());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn has_noise_cache(&self) -> bool {
        self.noise_cache
    }

    /// Whether this simulator runs the wide kernel, four neurons per invocation
    /// ([`GpuOptions::wide`]), on at least one shard (every shard but the partial last spike
    /// word's where N is not a multiple of 4; none below 32 neurons then).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, Model, Population};
    /// let ctx = Arc::new(GpuContext::new()?);
    /// let pop = Population::builder(Model::Lif, 1_000_000).build()?;
    /// let sim = GpuSim::new(ctx.clone(), &pop, 1)?;
    /// assert!(sim.is_wide()); // the default where it serves
    /// let lane = GpuOptions { wide: Some(false), ..Default::default() };
    /// assert!(!GpuSim::with_options(ctx, &pop, 1, &lane)?.is_wide());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn is_wide(&self) -> bool {
        self.shards.iter().any(|s| s.wide)
    }
    /// The kernels this simulator built and how, e.g. `wide (atomics, immediates, int64)`, or
    /// two such parts separated by `; ` where a lane shard takes the partial last spike word:
    /// how each builds spike words (subgroup ballot or workgroup atomics), takes the dispatch
    /// table (immediates or a uniform) and multiplies in Philox (64- or 32-bit integers).
    /// Results are identical whichever; `glifsim bench` records it with each GPU row.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population};
    /// let ctx = Arc::new(GpuContext::new()?);
    /// let pop = Population::builder(Model::Lif, 1_000).build()?;
    /// println!("{}", GpuSim::new(ctx, &pop, 1)?.kernel_variants());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn kernel_variants(&self) -> &str {
        &self.kernels
    }
    /// Steps taken so far.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let mut sim = GpuSim::new(Arc::new(ctx), &pop, 1)?;
    /// sim.run(7, &[0.0; 70], StepOptions::default())?;
    /// assert_eq!(sim.steps_done(), 7);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn steps_done(&self) -> u64 {
        self.steps
    }
    /// Set the step counter (used when restoring a saved run).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, input::Drive, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// // A current that starts at step 1000: set the counter there and the neurons feel it.
    /// let drive = Drive { schedule: vec![(1000, 100.0)], ..Default::default() };
    /// let mut sim = GpuSim::with_drive(Arc::new(ctx), &pop, 1, &drive, &Default::default())?;
    /// sim.set_steps_done(1000);
    /// assert!(sim.run_driven(100, StepOptions::default())?.count() > 0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn set_steps_done(&mut self, steps: u64) {
        self.steps = steps;
        // The cached noise belongs to the old step count.
        self.noise_cached_at = None;
    }

    /// One step with `input` (B·N currents, `[B][N]`); returns the spikes.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 2).build()?;
    /// let mut sim = GpuSim::new(Arc::new(ctx), &pop, 1)?;
    /// let mut fired = false;
    /// for _ in 0..100 {
    ///     fired |= sim.step(&[0.0, 1000.0], StepOptions::default())?.get(0, 1);
    /// }
    /// assert!(fired);
    /// assert!(sim.step(&[0.0], StepOptions::default()).is_err()); // wrong length: nothing runs
    /// assert_eq!(sim.steps_done(), 100);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn step(&mut self, input: &[f32], opts: StepOptions) -> Result<SpikeFrame> {
        self.one_step(Some(input), opts)
    }

    /// One step driven by the drive alone (no host input): submit, compute, read back the
    /// bitmask. The interactive path when inputs live on the device.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, input::Drive, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 1000).build()?;
    /// let drive = Drive { bias: 40.0.into(), ..Default::default() };
    /// let opts = GpuOptions { host_inputs: false, ..Default::default() };
    /// let mut sim = GpuSim::with_drive(Arc::new(ctx), &pop, 1, &drive, &opts)?;
    /// // A closed loop: look at each step's spikes before the next.
    /// let mut steps_to_first_spike = 0;
    /// while sim.step_driven(StepOptions::default())?.count() == 0 {
    ///     steps_to_first_spike += 1;
    /// }
    /// assert!(steps_to_first_spike > 0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn step_driven(&mut self, opts: StepOptions) -> Result<SpikeFrame> {
        self.one_step(None, opts)
    }

    /// One step, its words copied once, from the mapped readback straight into the frame
    /// (a run's record and a frame cut from it would copy them twice: at 1M neurons 125 KB
    /// more per interactive step).
    fn one_step(&mut self, input: Option<&[f32]>, opts: StepOptions) -> Result<SpikeFrame> {
        let mut frame = SpikeFrame::new(self.trials, self.pop.len());
        self.run_inner(1, input, opts, |_, words| {
            frame.words_mut().copy_from_slice(words);
            Ok(())
        })?;
        Ok(frame)
    }

    /// Run `steps` steps with inputs `[T][B][N]`; returns the spikes `[T][B][W]`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, CpuSim, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 1000).build()?;
    /// let x: Vec<f32> = (0..200 * 1000).map(|i| (i % 61) as f32).collect();
    /// let mut g = GpuSim::new(Arc::new(ctx), &pop, 1)?;
    /// let mut c = CpuSim::<f32>::new(&pop, 1, g.context().arith())?;
    /// let o = StepOptions::default();
    /// assert_eq!(g.run(200, &x, o)?, c.run(200, &x, o)?); // bit for bit
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn run(&mut self, steps: usize, inputs: &[f32], opts: StepOptions) -> Result<SpikeRecord> {
        SpikeRecord::collect(self.trials, self.pop.len(), |sink| {
            self.run_with(steps, inputs, opts, sink)
        })
    }

    /// Run `steps` steps, handing each chunk's spike words (`[t][B][W]`, starting at step
    /// `t0` of this run) to `sink` as soon as they are back. The inputs are checked in full
    /// first, so a bad input changes nothing. If `sink` fails, the steps already run stay run:
    /// those of the chunk it failed on and of the one submitted behind it, which
    /// [`steps_done`](Self::steps_done) counts although their spikes were not delivered.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 64).build()?;
    /// let opts = GpuOptions { chunk_steps: 40, ..Default::default() };
    /// let mut sim = GpuSim::with_options(Arc::new(ctx), &pop, 1, &opts)?;
    /// let mut chunks = Vec::new();
    /// sim.run_with(100, &vec![0.0; 100 * 64], StepOptions::default(), |t0, words| {
    ///     chunks.push((t0, words.len() / 2)); // two words per step
    ///     Ok(())
    /// })?;
    /// assert_eq!(chunks, vec![(0, 40), (40, 40), (80, 20)]);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn run_with(
        &mut self,
        steps: usize,
        inputs: &[f32],
        opts: StepOptions,
        sink: impl FnMut(usize, &[u32]) -> Result<()>,
    ) -> Result<()> {
        self.run_inner(steps, Some(inputs), opts, sink)
    }

    /// Run `steps` steps with the drive alone (no host input); returns the spikes.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, input::Drive, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 100).build()?;
    /// let drive = Drive { bias: vec![40.0; 100].into(), ..Default::default() };
    /// let mut sim = GpuSim::with_drive(Arc::new(ctx), &pop, 1, &drive, &Default::default())?;
    /// let rec = sim.run_driven(300, StepOptions::default())?;
    /// assert!(rec.count_per_neuron().iter().all(|&c| c > 0));
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn run_driven(&mut self, steps: usize, opts: StepOptions) -> Result<SpikeRecord> {
        SpikeRecord::collect(self.trials, self.pop.len(), |sink| {
            self.run_inner(steps, None, opts, sink)
        })
    }

    /// The drive.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// assert!(GpuSim::new(Arc::new(ctx), &pop, 1)?.drive().is_zero());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn drive(&self) -> &Drive {
        &self.drive
    }

    /// Replace the drive, keeping the state and step count. A drive equal to the current one
    /// changes nothing. Another rebuilds what the drive shapes (the parameters, the noise
    /// cache, the pipeline) and keeps the state, input and spike buffers where they are,
    /// unless the new drive's buffers cut the population into other shards (a per-neuron bias
    /// or the noise cache can lower the largest shard): then the state is read back through
    /// the host into a new set of buffers, and both sets are on the device for a moment.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, input::Drive, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 100).build()?;
    /// let mut sim = GpuSim::new(Arc::new(ctx), &pop, 1)?;
    /// sim.run(50, &vec![10.0; 50 * 100], StepOptions::default())?;
    /// let v = sim.state()?.v;
    /// sim.set_drive(Drive { bias: 30.0.into(), ..Default::default() })?;
    /// assert_eq!((sim.state()?.v, sim.steps_done()), (v, 50)); // state and step count kept
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn set_drive(&mut self, drive: Drive) -> Result<()> {
        drive.validate(self.pop.len())?;
        if drive == self.drive {
            return Ok(());
        }
        let (ctx, pop, opts) = (self.ctx.clone(), self.pop.clone(), self.opts.clone());
        let (mut new, kept) = Self::build(ctx, &pop, self.trials, &drive, &opts, Some(self))?;
        if !kept {
            // Cut into other shards: the state goes through the host.
            new.set_state(&self.state()?)?;
        }
        new.steps = self.steps;
        *self = new;
        Ok(())
    }

    /// `run_with` where the host inputs may be absent (drive only).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 32).build()?;
    /// let mut sim = GpuSim::new(Arc::new(ctx), &pop, 1)?;
    /// let mut steps = 0;
    /// sim.run_inner(20, None, StepOptions::default(), |_, w| {
    ///     steps += w.len(); // one word per step
    ///     Ok(())
    /// })?;
    /// assert_eq!(steps, 20);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn run_inner(
        &mut self,
        steps: usize,
        inputs: Option<&[f32]>,
        opts: StepOptions,
        sink: impl FnMut(usize, &[u32]) -> Result<()>,
    ) -> Result<()> {
        self.run_feed(steps, Feed::of(inputs), opts, sink, None, |_, _| Ok(()))
    }

    /// Run `steps` steps reading the input rows already in device memory (the last chunk
    /// uploaded, step `t` reading row `t % chunk_steps`), without uploading anything: this
    /// times the kernel with streamed input at device bandwidth (`glifsim bench`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuOptions, GpuSim}, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 1000).build()?;
    /// let opts = GpuOptions { chunk_steps: 10, ..Default::default() };
    /// let mut sim = GpuSim::with_options(Arc::new(ctx), &pop, 1, &opts)?;
    /// sim.run(10, &vec![40.0; 10 * 1000], StepOptions::default())?; // uploads the rows
    /// let t = std::time::Instant::now();
    /// sim.run_resident(1000, StepOptions::default(), |_, _| Ok(()))?; // reads them again and again
    /// println!("{:.2e} updates/s", 1000.0 * 1000.0 / t.elapsed().as_secs_f64());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn run_resident(
        &mut self,
        steps: usize,
        opts: StepOptions,
        sink: impl FnMut(usize, &[u32]) -> Result<()>,
    ) -> Result<()> {
        if !self.opts.host_inputs {
            return Err(Error::Usage(
                "this GPU simulator was built with host_inputs = false".into(),
            ));
        }
        self.run_feed(steps, Feed::Resident, opts, sink, None, |_, _| Ok(()))
    }

    /// `run_chunks`, forgetting the noise cache's position if it fails.
    fn run_feed(
        &mut self,
        steps: usize,
        feed: Feed<'_>,
        opts: StepOptions,
        sink: impl FnMut(usize, &[u32]) -> Result<()>,
        sampling: Option<(&Sampling, &SampleLayout)>,
        on_sample: impl FnMut(u64, State<f32>) -> Result<()>,
    ) -> Result<()> {
        let res = self.run_chunks(steps, feed, opts, sink, sampling, on_sample);
        if res.is_err() {
            // Whatever ran, drawing the next noise block again is always right.
            self.noise_cached_at = None;
        }
        res
    }

    /// The chunked run behind every run call: with `sampling` (its layout `SampleLayout` of
    /// at most `SPIKE_CHUNK_BYTES` per chunk, checked by the caller), the listed neurons'
    /// state is copied on the device after every sample step, read back with the chunk's
    /// spikes and handed to `on_sample` (step count, state) before the spikes go to `sink`.
    fn run_chunks(
        &mut self,
        steps: usize,
        feed: Feed<'_>,
        opts: StepOptions,
        mut sink: impl FnMut(usize, &[u32]) -> Result<()>,
        sampling: Option<(&Sampling, &SampleLayout)>,
        mut on_sample: impl FnMut(u64, State<f32>) -> Result<()>,
    ) -> Result<()> {
        let n = self.pop.len();
        let bn = self.trials * n;
        let inputs = match feed {
            Feed::Host(x) => Some(x),
            _ => None,
        };
        if let Some(x) = inputs {
            if !self.opts.host_inputs {
                return Err(Error::Usage(
                    "this GPU simulator was built with host_inputs = false".into(),
                ));
            }
            check_input("inputs", x, steps * bn, opts.check_input)?;
        }
        // FLAG_NO_HOST: no host input this run, the kernel reads 0 instead of the inputs.
        let no_host = inputs.is_none() && !matches!(feed, Feed::Resident);
        let flags = if opts.refrac_lock { 1 } else { 0 }
            | if opts.freeze_adaptation { 2 } else { 0 }
            | if no_host { 4 } else { 0 };
        let w = words_per_trial(n);
        let fw = self.trials * w;
        let start = self.steps;
        // Two mappable buffers for the chunks' samples, as for their spikes.
        let sample_staging = match sampling {
            Some((sm, layout)) => {
                let bytes = self.chunk_sample_bytes(sm.every, layout).max(4);
                use wgpu::BufferUsages as U;
                Some([
                    self.ctx
                        .buffer("samples", bytes, U::MAP_READ | U::COPY_DST)?,
                    self.ctx
                        .buffer("samples", bytes, U::MAP_READ | U::COPY_DST)?,
                ])
            }
            None => None,
        };
        // Chunk in flight: staging slot, first step, steps, sample steps (global), submission.
        type Pending = (usize, usize, usize, Vec<u64>, wgpu::SubmissionIndex);
        let mut pending: Option<Pending> = None;
        let mut t0 = 0;
        let mut c = 0;
        let mut out = Vec::new();
        while t0 < steps || pending.is_some() {
            let mut this = None;
            if t0 < steps {
                let tc = self.chunk.min(steps - t0);
                if let Some(x) = inputs {
                    self.upload_inputs(&x[t0 * bn..(t0 + tc) * bn], tc);
                }
                let base = start + t0 as u64;
                let at: Vec<u64> =
                    sampling.map_or(Vec::new(), |(sm, _)| sm.steps_in(base, tc as u64));
                let cuts: Vec<usize> = at.iter().map(|&s| (s - base) as usize).collect();
                self.write_step_uniforms(base, tc, flags, &cuts);
                let mut enc = self.ctx.device.create_command_encoder(&Default::default());
                let samples = match (sampling, &sample_staging) {
                    (Some((_, layout)), Some(bufs)) => Some((layout, &bufs[c % 2], &cuts[..])),
                    _ => None,
                };
                self.encode_steps(&mut enc, None, samples);
                for sh in &self.shards {
                    let bytes = (tc * self.trials * sh.w * 4) as u64;
                    enc.copy_buffer_to_buffer(&sh.spikes, 0, &sh.staging[c % 2], 0, bytes);
                }
                let idx = self.ctx.queue.submit([enc.finish()]);
                this = Some((c % 2, t0, tc, at, idx));
                t0 += tc;
                c += 1;
            }
            // While chunk c runs, read back chunk c − 1.
            if let Some((slot, pt0, ptc, pat, idx)) = pending.take() {
                let mut slices: Vec<wgpu::BufferSlice<'_>> = self
                    .shards
                    .iter()
                    .map(|sh| sh.staging[slot].slice(..(ptc * self.trials * sh.w * 4) as u64))
                    .collect();
                let sample_bytes = sampling.map_or(0, |(_, l)| l.bytes * pat.len() as u64);
                if let (Some(bufs), true) = (&sample_staging, sample_bytes > 0) {
                    slices.push(bufs[slot].slice(..sample_bytes));
                }
                crate::gpu::context::map_slices(
                    &self.ctx,
                    &slices,
                    Some(idx),
                    "the spike readback",
                )?;
                let views = slices
                    .iter()
                    .map(|s| s.get_mapped_range())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::Device(format!("reading spike readback: {e:?}")))?;
                self.steps += ptc as u64;
                // The samples first (they are steps of this chunk), then its spikes.
                let mut res = Ok(());
                if let (Some((sm, layout)), true) = (sampling, sample_bytes > 0) {
                    let floats: &[f32] = bytemuck::cast_slice(&views[self.shards.len()]);
                    let per = (layout.bytes / 4) as usize;
                    for (i, &step) in pat.iter().enumerate() {
                        let st = self.assemble(&sm.neurons, layout, &floats[i * per..]);
                        res = on_sample(step, st);
                        if res.is_err() {
                            break;
                        }
                    }
                }
                let res = if res.is_err() {
                    res
                } else if self.shards.len() == 1 {
                    // One shard: its rows are the frame layout already; no copy.
                    sink(pt0, bytemuck::cast_slice(&views[0]))
                } else {
                    out.clear();
                    out.resize(ptc * fw, 0);
                    for (sh, view) in self.shards.iter().zip(&views) {
                        let words: &[u32] = bytemuck::cast_slice(view);
                        let w0 = sh.n0 / 32;
                        for row in 0..ptc * self.trials {
                            out[row * w + w0..row * w + w0 + sh.w]
                                .copy_from_slice(&words[row * sh.w..(row + 1) * sh.w]);
                        }
                    }
                    sink(pt0, &out)
                };
                drop(views);
                for sh in &self.shards {
                    sh.staging[slot].unmap();
                }
                if let (Some(bufs), true) = (&sample_staging, sample_bytes > 0) {
                    bufs[slot].unmap();
                }
                if let Err(e) = res {
                    // The chunk submitted after this one runs anyway: its steps count as
                    // done (their spikes are not delivered).
                    if let Some((_, _, tc, _, idx)) = this {
                        self.ctx.wait(Some(idx))?;
                        self.steps += tc as u64;
                    }
                    return Err(e);
                }
            }
            pending = this;
        }
        self.ctx.take_error()
    }

    /// The dispatch table of `tc` steps starting at global step `base`: one entry `{0, tc}`
    /// when fused, else `{t, 1}` for every step, kept for `encode_steps`; and one write of the
    /// control buffer with the schedule values of those steps (when there is a schedule) and,
    /// unless the kernels take the table as immediates, the table itself (none at all for a
    /// step without a schedule on a device with immediates). Each entry says whether the
    /// noise cache holds its first quad's block: the first if the last dispatch recorded ended
    /// at `base`, the others if they start inside a quad (their predecessor in this chunk drew
    /// or read its block); and the cache's position after the chunk is recorded for the next
    /// one. A fused chunk is cut into one dispatch per stretch between `cuts` (steps of the
    /// chunk, 1 ..= tc, after which the state is sampled: a fused dispatch holds the state in
    /// registers until it ends).
    fn write_step_uniforms(&mut self, base: u64, tc: usize, flags: u32, cuts: &[usize]) {
        // Each dispatch's (first step, steps).
        let spans: Vec<(u32, u32)> = if self.opts.fused {
            let mut ends: Vec<usize> = cuts.iter().copied().filter(|&c| c < tc).collect();
            ends.push(tc);
            let mut t0 = 0;
            ends.iter()
                .map(|&e| {
                    let span = (t0 as u32, (e - t0) as u32);
                    t0 = e;
                    span
                })
                .collect()
        } else {
            (0..tc as u32).map(|t| (t, 1)).collect()
        };
        let cached_at_start = self.noise_cached_at.take() == Some(base);
        let end = base + tc as u64;
        if self.noise_cache && !end.is_multiple_of(4) {
            self.noise_cached_at = Some(end);
        }
        self.dispatches.clear();
        for (i, &(t0, count)) in spans.iter().enumerate() {
            let start = base + t0 as u64;
            let cached = if i == 0 {
                cached_at_start
            } else {
                !start.is_multiple_of(4)
            };
            self.dispatches.push(DispatchInfo {
                t0,
                count,
                flags: flags | if cached { FLAG_NOISE_CACHED } else { 0 },
                base_lo: base as u32,
                base_hi: (base >> 32) as u32,
                _pad: [0; 3],
            });
        }
        let schedule = !self.drive.schedule.is_empty();
        let len = if !self.immediates {
            self.disp_off as usize + self.dispatches.len() * DISPATCH_STRIDE as usize
        } else if schedule {
            4 * tc
        } else {
            return;
        };
        let mut bytes = vec![0u8; len];
        if schedule {
            for t in 0..tc {
                let v = self.drive.schedule_at(base + t as u64) as f32;
                bytes[4 * t..4 * t + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        if !self.immediates {
            for (i, d) in self.dispatches.iter().enumerate() {
                let o = self.disp_off as usize + i * DISPATCH_STRIDE as usize;
                bytes[o..o + DISPATCH_BYTES as usize].copy_from_slice(bytemuck::bytes_of(d));
            }
        }
        self.ctx.queue.write_buffer(&self.ctrl_buf, 0, &bytes);
    }

    /// One compute pass over the chunk of `write_step_uniforms`: one dispatch per shard
    /// (fused) or per step and shard, each given its entry of the dispatch table as
    /// immediates or as the uniform's dynamic offset.
    ///
    /// With `samples` (a layout, the buffer its copies go to, and the chunk's sample steps as
    /// in `write_step_uniforms`), the pass ends after each dispatch that ends at a sample
    /// step, the layout's ranges are copied to the sample's place in the buffer (sample `i`
    /// at `i · layout.bytes`), and a new pass begins. Timestamps (`ts`) only without samples.
    fn encode_steps(
        &self,
        enc: &mut wgpu::CommandEncoder,
        ts: Option<&wgpu::QuerySet>,
        samples: Option<(&SampleLayout, &wgpu::Buffer, &[usize])>,
    ) {
        debug_assert!(ts.is_none() || samples.is_none());
        let mut d = 0;
        let mut taken = 0u64;
        while d < self.dispatches.len() {
            let mut cut = false;
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("steps"),
                    timestamp_writes: ts.map(|q| wgpu::ComputePassTimestampWrites {
                        query_set: q,
                        beginning_of_pass_write_index: Some(0),
                        end_of_pass_write_index: Some(1),
                    }),
                });
                while d < self.dispatches.len() && !cut {
                    let entry = &self.dispatches[d];
                    let offset = if self.immediates {
                        0
                    } else {
                        (d as u64 * DISPATCH_STRIDE) as u32
                    };
                    for sh in &self.shards {
                        pass.set_pipeline(&sh.pipeline);
                        pass.set_bind_group(0, &sh.bind_group, &[offset]);
                        if self.immediates {
                            pass.set_immediates(0, bytemuck::bytes_of(entry));
                        }
                        pass.dispatch_workgroups(sh.dispatch.0, sh.dispatch.1, 1);
                    }
                    let end = (entry.t0 + entry.count) as usize;
                    cut = samples.is_some_and(|(_, _, cuts)| cuts.contains(&end));
                    d += 1;
                }
            }
            if let (true, Some((layout, buf, _))) = (cut, samples) {
                let mut at = taken * layout.bytes;
                for &(s, plane, offset, size) in &layout.ranges {
                    enc.copy_buffer_to_buffer(self.plane_buffer(s, plane), offset, buf, at, size);
                    at += size;
                }
                taken += 1;
            }
        }
    }

    /// GPU time (s) of one pass of `steps` (≤ chunk) steps on resident inputs, from timestamp
    /// queries; `None` when the adapter has none. The state advances by `steps` steps.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population, StepOptions};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// let pop = Population::builder(Model::Lif, 1000).build()?;
    /// let mut sim = GpuSim::new(Arc::new(ctx), &pop, 1)?;
    /// sim.run(100, &vec![20.0; 100 * 1000], StepOptions::default())?;
    /// if let Some(s) = sim.gpu_time_resident(100)? {
    ///     println!("{:.1} µs per step on the GPU", s * 1e6 / 100.0);
    /// }
    /// assert_eq!(sim.steps_done(), 200);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn gpu_time_resident(&mut self, steps: usize) -> Result<Option<f64>> {
        if !self.ctx.has_timestamps() {
            return Ok(None);
        }
        let tc = steps.min(self.chunk);
        let qs = self.ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        use wgpu::BufferUsages as U;
        let resolve = self
            .ctx
            .buffer("timestamps", 16, U::QUERY_RESOLVE | U::COPY_SRC)?;
        self.write_step_uniforms(self.steps, tc, 1, &[]);
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        self.encode_steps(&mut enc, Some(&qs), None);
        enc.resolve_query_set(&qs, 0..2, &resolve, 0);
        self.ctx.queue.submit([enc.finish()]);
        let raw = self.ctx.read_buffer(&resolve, 16)?;
        let t: &[u64] = bytemuck::cast_slice(&raw);
        self.steps += tc as u64;
        let ns = t[1].wrapping_sub(t[0]) as f64 * self.ctx.queue.get_timestamp_period() as f64;
        Ok(Some(ns * 1e-9 * steps as f64 / tc as f64))
    }

    fn upload_inputs(&self, inputs: &[f32], tc: usize) {
        let n = self.pop.len();
        if self.shards.len() == 1 {
            self.ctx
                .queue
                .write_buffer(&self.shards[0].inputs, 0, bytemuck::cast_slice(inputs));
            return;
        }
        for sh in &self.shards {
            let mut part = Vec::with_capacity(tc * self.trials * sh.n);
            for row in 0..tc * self.trials {
                part.extend_from_slice(&inputs[row * n + sh.n0..row * n + sh.n0 + sh.n]);
            }
            self.ctx
                .queue
                .write_buffer(&sh.inputs, 0, bytemuck::cast_slice(&part));
        }
    }
}

fn bind_group_layout(device: &wgpu::Device) -> wgpu::BindGroupLayout {
    let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    let uniform = |binding, dynamic| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: dynamic,
            min_binding_size: None,
        },
        count: None,
    };
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("step"),
        entries: &[
            uniform(0, false),
            uniform(1, true),
            storage(2, true),
            storage(3, true),
            storage(4, false),
            storage(5, false),
            storage(6, false),
            storage(7, false),
            storage(8, true),
            storage(9, false),
        ],
    })
}

/// Buffers and layout every shard binds.
struct SharedBuffers<'a> {
    layout: &'a wgpu::BindGroupLayout,
    ctrl: &'a wgpu::Buffer,
    steps_bytes: u64,
    disp_off: u64,
    /// Length of a per-neuron parameter region (the largest shard).
    stride: usize,
    /// Allocate the noise cache.
    noise_cache: bool,
}

#[allow(clippy::too_many_arguments)]
fn make_shard(
    ctx: &GpuContext,
    pop: &Population,
    trials: usize,
    n0: usize,
    ns: usize,
    chunk: usize,
    shared: &SharedBuffers<'_>,
    (wide, pipeline): (bool, wgpu::ComputePipeline),
    slots_list: &[(&'static str, &crate::Param)],
    drive: &Drive,
    opts: &GpuOptions,
    keep: Option<&Shard>,
) -> Result<Shard> {
    use wgpu::BufferUsages as U;
    let comps = pop.components();
    let n_pad = ns.next_multiple_of(32);
    let w = n_pad / 32;
    let bn = (trials * ns) as u64;
    // Parameters, each rounded once to f32, in the layout `param()` in shaders/common.wgsl
    // reads: one value per slot (0 for a per-neuron one), padded to a multiple of 4; then a
    // region of `stride` values (a multiple of 4) holding this shard's neurons for each
    // per-neuron slot.
    let mut params: Vec<f32> = slots_list
        .iter()
        .map(|(_, p)| {
            if p.is_per_neuron() {
                0.0
            } else {
                p.at(0) as f32
            }
        })
        .collect();
    params.resize(params.len().next_multiple_of(4), 0.0);
    for (_, p) in slots_list.iter().filter(|(_, p)| p.is_per_neuron()) {
        let start = params.len();
        params.extend(p.values()[n0..n0 + ns].iter().map(|&x| x as f32));
        params.resize(start + shared.stride, 0.0);
    }
    // The noise table `(A, B)` of `noise_value` follows the slots (shaders/common.wgsl reads it
    // from `info.noise_table`).
    let noise_table = params.len() as u32;
    if drive.noise.is_some() {
        params.extend(crate::noise::noise_table().interleaved());
    }
    // The wide kernel binds them as vectors.
    params.resize(params.len().next_multiple_of(4), 0.0);
    let threads = (trials * n_pad) as u64;
    let invocations = if wide { threads / 4 } else { threads };
    let wgs = invocations.div_ceil(WORKGROUP);
    let max_dim = ctx.limits().max_compute_workgroups_per_dimension as u64;
    let (wg_x, wg_y) = tile(wgs, max_dim);
    if wg_y > max_dim {
        return Err(Error::TooLarge {
            needed: invocations,
            available: Some(max_dim * max_dim * WORKGROUP),
            what: "invocations in one dispatch".into(),
        });
    }
    let info = Info {
        n: ns as u32,
        n_pad: n_pad as u32,
        trials: trials as u32,
        wg_x: wg_x as u32,
        threads: threads as u32,
        words: (trials * w) as u32,
        n0: n0 as u32,
        seed_lo: drive.seed() as u32,
        seed_hi: (drive.seed() >> 32) as u32,
        dt: pop.dt() as f32,
        noise_table,
        refr_base: (trials * w * chunk) as u32,
    };
    let info_buf = ctx.buffer(
        "info",
        std::mem::size_of::<Info>() as u64,
        U::UNIFORM | U::COPY_DST,
    )?;
    ctx.queue
        .write_buffer(&info_buf, 0, bytemuck::bytes_of(&info));
    let params_buf = ctx.buffer("params", params.len() as u64 * 4, U::STORAGE | U::COPY_DST)?;
    ctx.queue
        .write_buffer(&params_buf, 0, bytemuck::cast_slice(&params));
    // The state, input, spike and staging buffers do not depend on the drive: a shard rebuilt
    // for a new drive (`GpuSim::set_drive`) keeps its predecessor's, state included.
    let (v, r, theta, inputs, spikes, staging) = match keep {
        Some(k) => (
            k.v.clone(),
            k.r.clone(),
            k.theta.clone(),
            k.inputs.clone(),
            k.spikes.clone(),
            k.staging.clone(),
        ),
        None => {
            let state_usage = U::STORAGE | U::COPY_DST | U::COPY_SRC;
            let v = ctx.buffer("v", bn * 4, state_usage)?;
            let r = ctx.buffer("r", bn * 4, state_usage)?;
            // θ/current components [NC][B][n]; LIF and GLIF1 have none and get a 16-byte stand-in
            // (a binding may not be empty), so that their state stays 8 bytes per neuron (V and r).
            let theta = ctx.buffer("theta", (bn * 4 * comps as u64).max(16), state_usage)?;
            // Without host input, a stand-in of one vector (the wide kernel reads it as vec4s).
            let input_bytes = if opts.host_inputs {
                bn * 4 * chunk as u64
            } else {
                16
            };
            let inputs = ctx.buffer("inputs", input_bytes, U::STORAGE | U::COPY_DST)?;
            let spike_bytes = (trials * w * 4 * chunk) as u64;
            // The chunk's spike rows, then one row of refractory words (all 0: r = 0 everywhere).
            let spikes = ctx.buffer(
                "spikes",
                spike_bytes + (trials * w * 4) as u64,
                U::STORAGE | U::COPY_SRC | U::COPY_DST,
            )?;
            let staging = [
                ctx.buffer("staging0", spike_bytes, U::MAP_READ | U::COPY_DST)?,
                ctx.buffer("staging1", spike_bytes, U::MAP_READ | U::COPY_DST)?,
            ];
            (v, r, theta, inputs, spikes, staging)
        }
    };
    // Without the cache, a stand-in of one vector (the wide kernel reads it as vec4s).
    let cache_bytes = if shared.noise_cache { 3 * bn * 4 } else { 16 };
    let noise_cache = ctx.buffer("noise cache", cache_bytes, U::STORAGE)?;
    if keep.is_none() {
        // Initial state: V = V_rest, r = 0, θ = 0.
        let v0: Vec<f32> = (0..trials * ns)
            .map(|i| pop.v_rest().at(n0 + i % ns) as f32)
            .collect();
        ctx.queue.write_buffer(&v, 0, bytemuck::cast_slice(&v0));
    }
    fn whole(binding: u32, b: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
        wgpu::BindGroupEntry {
            binding,
            resource: b.as_entire_binding(),
        }
    }
    let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("step"),
        layout: shared.layout,
        entries: &[
            whole(0, &info_buf),
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: shared.ctrl,
                    offset: shared.disp_off,
                    size: std::num::NonZeroU64::new(std::mem::size_of::<DispatchInfo>() as u64),
                }),
            },
            whole(2, &params_buf),
            whole(3, &inputs),
            whole(4, &v),
            whole(5, &r),
            whole(6, &theta),
            whole(7, &spikes),
            wgpu::BindGroupEntry {
                binding: 8,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: shared.ctrl,
                    offset: 0,
                    size: std::num::NonZeroU64::new(shared.steps_bytes),
                }),
            },
            whole(9, &noise_cache),
        ],
    });
    Ok(Shard {
        noise_cache,
        wide,
        pipeline,
        n0,
        n: ns,
        w,
        v,
        r,
        theta,
        inputs,
        spikes,
        staging,
        bind_group,
        dispatch: (wg_x as u32, wg_y as u32),
        _info: info_buf,
        params: params_buf,
    })
}

#[cfg(test)]
mod tests {
    use super::tile;

    #[test]
    fn tiling_covers_every_workgroup_with_few_spares() {
        let max = 65_535;
        for wgs in (1..300_000u64)
            .step_by(997)
            .chain([65_535, 65_536, 65_537, 131_070, 262_144])
        {
            let (x, y) = tile(wgs, max);
            assert!(x <= max && x * y >= wgs, "{wgs}: {x} × {y}");
            assert!(
                x * y - wgs < y,
                "{wgs}: {x} × {y} leaves {} spare",
                x * y - wgs
            );
        }
        assert_eq!(tile(65_536, max), (32_768, 2));
    }
}
