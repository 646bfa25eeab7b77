//! The GPU context: adapter selection, device creation with the adapter's own limits, error
//! capture, and the calibration that finds the adapter's arithmetic mode.
//!
//! Device set-up lives here and nowhere else; the engine (`engine.rs`) only records work.
//!
//! Environment variables read here:
//! - `GLIFSIM_ADAPTER=NAME`: the adapter whose name contains NAME (case-insensitive);
//!   `WGPU_BACKEND` (e.g. `vulkan`, `gl`) sets the backends searched, by default Vulkan,
//!   Metal and DX12 ([`DEFAULT_BACKENDS`]).
//! - `GLIFSIM_NO_BALLOT=1`, `GLIFSIM_NO_INT64=1`: use the portable kernel variants (spike
//!   words by workgroup atomics; Philox's multiply from 16-bit halves) even where the adapter
//!   offers subgroups or 64-bit integers. Results are identical.
//! - `LP_NATIVE_VECTOR_WIDTH=512` (Mesa's, not glifsim's): lavapipe with 16-wide subgroups
//!   instead of 8, which `tests/gpu.rs` uses to run the wide kernel's ballot entry point with
//!   two spike words per subgroup. At 1024 bits, Mesa 22.3 reports 32-wide subgroups whose
//!   invocation ids repeat every 16; the subgroup probe rejects that layout (spike words by
//!   workgroup atomics), and the same test holds it to that.
//! - `GLIFSIM_LANE_BALLOT=1`: the lane kernel's subgroup entry point even where subgroups are
//!   narrower than a spike word, which then builds the words in workgroup memory (slower
//!   there than the workgroup entry point; `tests/gpu.rs` uses it to run that branch on
//!   lavapipe). Results are identical.
//! - `GLIFSIM_NO_NOISE_CACHE=1`: no noise cache by default (see `GpuOptions::noise_cache`);
//!   results are identical.
//! - `GLIFSIM_NO_IMMEDIATES=1`: the dispatch's step range from a uniform buffer even where the
//!   device has immediates (see [`GpuContext::has_immediates`]). Results are identical.
//! - `GLIFSIM_WIDE_BALLOT=1`: the wide kernel builds spike words with subgroupBallot on a GPU
//!   too (by default only on CPU drivers; see [`GpuContext::wide_ballot`]); `=0`: with
//!   workgroup atomics on CPU drivers too (to run that entry point, and variants of it, on
//!   lavapipe). Results are identical.
//! - `GLIFSIM_NO_WIDE=1`: one neuron per invocation by default even where the wide kernel
//!   (four per invocation, 16-byte accesses) serves (see `GpuOptions::wide`); results are
//!   identical.
//! - `GLIFSIM_HOST_SAMPLES=1`: `Simulator::run_sampled` (the traces of `glifsim run`) cuts a
//!   GPU run at every sample and reads it with `state_of`, instead of copying the samples on
//!   the device within the run; results are identical.
//! - `GLIFSIM_SPIN_US=N`: how long a wait for the GPU polls before it blocks, in µs (see
//!   [`GpuContext::set_spin_wait`]); by default 100 on GPUs, 0 on CPU drivers.
//! - `GLIFSIM_FORCE_LOOP_BOUNDING=1`: compile the shaders with wgpu's loop bounding, which
//!   glifsim otherwise turns off (see [`GpuContext`]'s shader creation). Results are identical.
//! - `GLIFSIM_SHADER_DIR=DIR`: the step kernels' WGSL files from DIR where it has them, for
//!   kernel experiments without a rebuild (see [`crate::gpu::shaders`]).
//! - `GLIFSIM_MAX_BINDING=BYTES`: open the device with a storage binding limit of at most
//!   BYTES (see [`GpuContext::with_binding_limit`]), to cut a population into the shards a
//!   device with that limit would. Results are identical.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::Arith;

/// A short description of one adapter, for `glifsim adapters` and the logs.
///
/// ```
/// for a in glifsim::gpu::list_adapters() {
///     println!("{a}"); // name, backend, type, driver, limits
/// }
/// ```
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterSummary {
    /// Adapter name.
    pub name: String,
    /// Backend (Vulkan, Metal, Dx12, Gl).
    pub backend: String,
    /// Device type (DiscreteGpu, IntegratedGpu, Cpu, ...).
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
    /// Largest storage binding, bytes.
    pub max_storage_binding: u64,
    /// Largest buffer, bytes.
    pub max_buffer: u64,
    /// Workgroups per dispatch dimension.
    pub max_workgroups_per_dim: u32,
    /// Whether timestamp queries are supported.
    pub timestamps: bool,
}

impl AdapterSummary {
    /// Whether the adapter is a CPU driver (lavapipe, WARP, SwiftShader).
    ///
    /// ```
    /// let cpu_drivers: Vec<String> = glifsim::gpu::list_adapters()
    ///     .into_iter()
    ///     .filter(|a| a.is_cpu())
    ///     .map(|a| a.name)
    ///     .collect();
    /// println!("CPU drivers: {cpu_drivers:?}"); // ["llvmpipe (LLVM 15.0.6, 256 bits)"] with lavapipe
    /// ```
    pub fn is_cpu(&self) -> bool {
        self.device_type == format!("{:?}", wgpu::DeviceType::Cpu)
    }
    fn of(a: &wgpu::Adapter) -> Self {
        let i = a.get_info();
        let l = a.limits();
        AdapterSummary {
            name: i.name,
            backend: format!("{:?}", i.backend),
            device_type: format!("{:?}", i.device_type),
            driver: format!("{} {}", i.driver, i.driver_info).trim().to_string(),
            max_storage_binding: l.max_storage_buffer_binding_size,
            max_buffer: l.max_buffer_size,
            max_workgroups_per_dim: l.max_compute_workgroups_per_dimension,
            timestamps: a.features().contains(wgpu::Features::TIMESTAMP_QUERY),
        }
    }
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {}, driver {}; max storage binding {} B, max buffer {} B, {} workgroups/dim{})",
            self.name,
            self.backend,
            self.device_type,
            self.driver,
            self.max_storage_binding,
            self.max_buffer,
            self.max_workgroups_per_dim,
            if self.timestamps { ", timestamps" } else { "" }
        )
    }
}

/// The whole number the variable `name` (one of the `GLIFSIM_*` variables listed in this
/// module's docs) is set to, in `unit`; `None` where it is unset or empty.
fn env_number(name: &str, unit: &str) -> Result<Option<u64>> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map(Some).map_err(|_| {
            Error::Usage(format!(
                "{name} must be a whole number of {unit}, not '{v}'"
            ))
        }),
        _ => Ok(None),
    }
}

/// Whether the switch `name` (one of the `GLIFSIM_*` variables listed in this module's docs)
/// is set to `1`.
pub(crate) fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// The backends searched unless `WGPU_BACKEND` names others: Vulkan, Metal and DX12. OpenGL
/// is left out because glifsim has no use for it (its compute support is partial, and the
/// machines glifsim targets have one of these), and because searching it initialises EGL,
/// whose displays opened and closed from several threads at once are a known source of hangs
/// on NVIDIA's driver.
///
/// ```
/// use glifsim::gpu::DEFAULT_BACKENDS;
/// assert!(DEFAULT_BACKENDS.contains(wgpu::Backends::VULKAN));
/// assert!(!DEFAULT_BACKENDS.contains(wgpu::Backends::GL));
/// ```
pub const DEFAULT_BACKENDS: wgpu::Backends = wgpu::Backends::PRIMARY;

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = DEFAULT_BACKENDS;
    // Honours WGPU_BACKEND (which replaces the backends above) and wgpu's other variables.
    wgpu::Instance::new(desc.with_env())
}

/// Every adapter wgpu can see on the backends searched (Vulkan, Metal, DX12, or those
/// `WGPU_BACKEND` names).
///
/// ```
/// let adapters = glifsim::gpu::list_adapters();
/// if adapters.is_empty() {
///     println!("no GPU adapter: glifsim runs on its CPU path");
/// }
/// ```
pub fn list_adapters() -> Vec<AdapterSummary> {
    let inst = instance();
    pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()))
        .iter()
        .map(AdapterSummary::of)
        .collect()
}

fn rank(a: &wgpu::Adapter) -> (u8, u8) {
    let i = a.get_info();
    let ty = match i.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let be = match i.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    (ty, be)
}

/// An open device, its queue, what it is, and how it does arithmetic. Share it between
/// simulators with `Arc`.
///
/// ```
/// use std::sync::Arc;
/// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population};
/// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
/// let ctx = Arc::new(ctx);
/// println!("{} computes fma() as {}", ctx.adapter().name, ctx.arith());
/// // Any number of simulators share the device.
/// let exc = GpuSim::new(ctx.clone(), &Population::builder(Model::Lif, 8000).build()?, 1)?;
/// let inh = GpuSim::new(ctx.clone(), &Population::builder(Model::Lif, 2000).build()?, 1)?;
/// assert_eq!(exc.shard_count() + inh.shard_count(), 2);
/// # Ok::<(), glifsim::Error>(())
/// ```
pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    summary: AdapterSummary,
    limits: wgpu::Limits,
    features: wgpu::Features,
    arith: Arith,
    /// The subgroup size where subgroups are laid out along the local invocation index (the
    /// probe), else 0.
    subgroup: u32,
    error: Arc<Mutex<Option<String>>>,
    /// Why the device was lost, once it has been (never cleared: nothing on it can continue).
    lost: Arc<Mutex<Option<String>>>,
    /// How long a wait polls before it blocks, ns.
    spin_ns: AtomicU64,
}

/// Storage buffers the step kernels bind (shaders/common.wgsl, bindings 2–9): WebGPU's
/// default limit, which every Vulkan, Metal and DX12 adapter meets.
///
/// ```
/// assert!(glifsim::gpu::STORAGE_BUFFERS_NEEDED <= wgpu::Limits::default().max_storage_buffers_per_shader_stage);
/// ```
pub const STORAGE_BUFFERS_NEEDED: u32 = 8;

/// The smallest storage binding limit [`GpuContext::with_binding_limit`] accepts: room
/// for a shard of 256 neurons beside the parameters and the noise table.
///
/// ```
/// use glifsim::gpu::{GpuContext, MIN_BINDING_LIMIT};
/// assert!(GpuContext::with_binding_limit(None, MIN_BINDING_LIMIT - 4).is_err());
/// ```
pub const MIN_BINDING_LIMIT: u64 = 256 << 10;

/// The default of [`GpuContext::spin_wait`] on a GPU (CPU drivers: zero).
///
/// ```
/// use glifsim::gpu::{GpuContext, DEFAULT_SPIN_WAIT};
/// let Ok(ctx) = GpuContext::new() else { return }; // no GPU adapter here
/// let expected = if ctx.adapter().is_cpu() { std::time::Duration::ZERO } else { DEFAULT_SPIN_WAIT };
/// if std::env::var("GLIFSIM_SPIN_US").is_err() {
///     assert_eq!(ctx.spin_wait(), expected);
/// }
/// ```
pub const DEFAULT_SPIN_WAIT: Duration = Duration::from_micros(100);

/// The most bytes [`GpuContext::read_ranges`] reads back in one submission (one range larger
/// than this goes alone).
const READ_BATCH_BYTES: u64 = 256 << 20;

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.summary)
            .field("arith", &self.arith)
            .finish()
    }
}

impl GpuContext {
    /// Open the best adapter: `GLIFSIM_ADAPTER` picks by name substring (case-insensitive),
    /// `WGPU_BACKEND` by backend; otherwise discrete GPUs first, then integrated, then CPU
    /// drivers such as lavapipe.
    ///
    /// ```no_run
    /// let ctx = glifsim::gpu::GpuContext::new()?;
    /// println!("{} computes fma() as {}", ctx.adapter(), ctx.arith());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn new() -> Result<Self> {
        let name = std::env::var("GLIFSIM_ADAPTER").ok();
        Self::open(name.as_deref(), env_number("GLIFSIM_MAX_BINDING", "bytes")?)
    }

    /// Open the best adapter whose name contains `name` (any adapter when `None`).
    ///
    /// ```
    /// use glifsim::{gpu::GpuContext, Error};
    /// // A name no adapter has: an error that lists the adapters there are.
    /// match GpuContext::with_adapter_name(Some("no such GPU")) {
    ///     Err(Error::NoAdapter(why)) => assert!(why.contains("found:"), "{why}"),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn with_adapter_name(name: Option<&str>) -> Result<Self> {
        Self::open(name, None)
    }

    /// [`GpuContext::with_adapter_name`], with the device's storage binding limit
    /// (`max_storage_buffer_binding_size`) lowered to at most `bytes` (a multiple of 4, at
    /// least [`MIN_BINDING_LIMIT`]).
    ///
    /// A simulator cuts a population into shards whose every binding fits this limit (2 GiB
    /// on an H200, 128 MiB on lavapipe). Lowering it emulates a device with a smaller limit,
    /// or exercises at a small population the sharding a billion neurons needs; spikes and
    /// state are the same however the population is cut. `GLIFSIM_MAX_BINDING` does the
    /// same for [`GpuContext::new`] (and so for the command line).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use glifsim::{gpu::{GpuContext, GpuSim}, Model, Population};
    /// let ctx = Arc::new(GpuContext::with_binding_limit(None, 1 << 20)?);
    /// assert!(ctx.limits().max_storage_buffer_binding_size <= 1 << 20);
    /// let pop = Population::builder(Model::Lif, 1_000_000).build()?;
    /// let sim = GpuSim::new(ctx, &pop, 1)?;
    /// assert!(sim.shard_count() > 1);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn with_binding_limit(name: Option<&str>, bytes: u64) -> Result<Self> {
        Self::open(name, Some(bytes))
    }

    fn open(name: Option<&str>, cap: Option<u64>) -> Result<Self> {
        if let Some(c) = cap {
            if c < MIN_BINDING_LIMIT || c % 4 != 0 {
                return Err(Error::Usage(format!(
                    "a storage binding limit must be a multiple of 4 bytes and at least {MIN_BINDING_LIMIT}, not {c}"
                )));
            }
        }
        let inst = instance();
        let mut adapters = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()));
        let all: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        if let Some(n) = name {
            let n = n.to_lowercase();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&n));
        }
        adapters.sort_by_key(rank);
        let adapter = adapters.into_iter().next().ok_or_else(|| {
            Error::NoAdapter(match name {
                Some(n) => format!(
                    "no adapter name contains '{n}' (GLIFSIM_ADAPTER); found: [{}]",
                    all.join(", ")
                ),
                None => "wgpu found no Vulkan, Metal or DX12 adapter (on Linux, install a Vulkan \
                     driver, for example `apt-get install mesa-vulkan-drivers libvulkan1` for \
                     lavapipe; WGPU_BACKEND=gl also searches OpenGL)"
                    .into(),
            })
        })?;
        Self::from_adapter(adapter, cap)
    }

    fn from_adapter(adapter: wgpu::Adapter, cap: Option<u64>) -> Result<Self> {
        let mut summary = AdapterSummary::of(&adapter);
        // The adapter's own limits: the defaults cap a storage binding at 128 MiB.
        let mut limits = adapter.limits();
        if let Some(c) = cap {
            let b = &mut limits.max_storage_buffer_binding_size;
            *b = (*b).min(c);
            summary.max_storage_binding = *b;
        }
        if limits.max_storage_buffers_per_shader_stage < STORAGE_BUFFERS_NEEDED {
            return Err(Error::Device(format!(
                "{} allows {} storage buffers per shader stage; glifsim's step kernels bind {} \
                 (pick another adapter with GLIFSIM_ADAPTER, or run with --backend cpu)",
                summary.name, limits.max_storage_buffers_per_shader_stage, STORAGE_BUFFERS_NEEDED
            )));
        }
        let features = adapter.features()
            & (wgpu::Features::TIMESTAMP_QUERY
                | wgpu::Features::SUBGROUP
                | wgpu::Features::SHADER_INT64
                | wgpu::Features::IMMEDIATES);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("glifsim"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Device(format!("cannot open {}: {e}", summary.name)))?;
        let error = Arc::new(Mutex::new(None::<String>));
        let e2 = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut g = e2.lock().unwrap();
            if g.is_none() {
                *g = Some(e.to_string());
            }
        }));
        let lost = Arc::new(Mutex::new(None::<String>));
        let l2 = lost.clone();
        let name = summary.name.clone();
        device.set_device_lost_callback(move |reason, msg| {
            let why = if msg.is_empty() {
                format!("{reason:?}")
            } else {
                format!("{reason:?}: {msg}")
            };
            *l2.lock().unwrap() = Some(format!(
                "the GPU device ({name}) was lost ({why}); nothing on it can continue: open a \
                 new context, or resume from a checkpoint (glifsim resume DIR)"
            ));
        });
        let mut ctx = GpuContext {
            device,
            queue,
            summary,
            limits,
            features,
            arith: Arith::Separate,
            subgroup: 0,
            error,
            lost,
            spin_ns: AtomicU64::new(0),
        };
        let spin = match env_number("GLIFSIM_SPIN_US", "microseconds")? {
            Some(us) => Duration::from_micros(us),
            None if ctx.summary.is_cpu() => Duration::ZERO,
            None => DEFAULT_SPIN_WAIT,
        };
        ctx.set_spin_wait(spin);
        ctx.arith = ctx.calibrate()?;
        ctx.subgroup = ctx.probe_subgroups().unwrap_or_else(|e| {
            log::warn!("subgroup probe failed ({e}); building spike words with workgroup atomics");
            0
        });
        log::info!(
            "GPU adapter: {} — fma() is {}; spike words by {}; dispatch table as {}",
            ctx.summary,
            ctx.arith,
            ctx.spike_word_method(),
            if ctx.has_immediates() {
                "immediates"
            } else {
                "a uniform"
            }
        );
        Ok(ctx)
    }

    /// How long a wait for a readback from the GPU (a step's spikes, a state read) polls the
    /// device in a loop, until the readback is mapped, before it blocks in the driver.
    ///
    /// A blocked thread wakes some tens of µs after the GPU signals, which is most of an
    /// interactive step's time; polling costs a core for at most this long per wait and
    /// nothing when the work is already done. By default 100 µs on a GPU and zero (block at
    /// once) on CPU drivers such as lavapipe, whose own threads need the cores;
    /// `GLIFSIM_SPIN_US` sets it when the context is opened.
    ///
    /// ```no_run
    /// let ctx = glifsim::gpu::GpuContext::new()?;
    /// ctx.set_spin_wait(std::time::Duration::ZERO); // block at once: spare the CPU
    /// assert_eq!(ctx.spin_wait(), std::time::Duration::ZERO);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn spin_wait(&self) -> Duration {
        Duration::from_nanos(self.spin_ns.load(Ordering::Relaxed))
    }

    /// Set [`spin_wait`](Self::spin_wait) (for every simulator sharing this context).
    ///
    /// ```
    /// use std::time::Duration;
    /// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return }; // no GPU adapter here
    /// ctx.set_spin_wait(Duration::from_micros(50));
    /// assert_eq!(ctx.spin_wait(), Duration::from_micros(50));
    /// ```
    pub fn set_spin_wait(&self, d: Duration) {
        self.spin_ns
            .store(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    /// Why the device was lost (driver reset, removal, `destroy`), once it has been; every
    /// later operation on it fails with this message.
    ///
    /// ```
    /// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return }; // no GPU adapter here
    /// assert_eq!(ctx.lost(), None);
    /// ```
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap().clone()
    }

    /// What the adapter is.
    ///
    /// ```
    /// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return }; // no GPU adapter here
    /// let a = ctx.adapter();
    /// println!("{} on {} ({})", a.name, a.backend, a.device_type);
    /// ```
    pub fn adapter(&self) -> &AdapterSummary {
        &self.summary
    }
    /// The limits the device was opened with: the adapter's own, with the storage binding
    /// limit lowered where [`GpuContext::with_binding_limit`] asked.
    ///
    /// ```
    /// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return }; // no GPU adapter here
    /// // 2 GiB on an H200, 128 MiB on lavapipe: a population past it is cut into shards.
    /// println!("{} bytes per binding", ctx.limits().max_storage_buffer_binding_size);
    /// ```
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }
    /// Whether timestamp queries are enabled.
    ///
    /// ```
    /// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return }; // no GPU adapter here
    /// println!("GPU time {}", if ctx.has_timestamps() { "measured" } else { "unknown: wall time only" });
    /// ```
    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }
    /// How this adapter evaluates `fma()`: the CPU path in this mode reproduces it bit for bit.
    ///
    /// ```
    /// use glifsim::{gpu::GpuContext, CpuSim, Model, Population};
    /// let Ok(ctx) = GpuContext::new() else { return Ok(()) }; // no GPU adapter here
    /// // The CPU twin of any simulator on this device.
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let twin = CpuSim::<f32>::new(&pop, 1, ctx.arith())?;
    /// assert_eq!(twin.arith(), ctx.arith());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn arith(&self) -> Arith {
        self.arith
    }
    /// Whether the lane kernel (one neuron per invocation) builds spike words with
    /// `subgroupBallot` rather than workgroup atomics and barriers: subgroups laid out along
    /// the local index whose size is a multiple of 32 up to 128 (32 on NVIDIA). The kernel
    /// checks the size its own pipeline got at run time (`shaders/main_ballot.wgsl`) and
    /// builds the words in workgroup memory where it is narrower, so this is what the probe
    /// predicts, not a condition of correctness.
    ///
    /// ```
    /// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return }; // no GPU adapter here
    /// if ctx.uses_ballot() {
    ///     assert!(ctx.subgroup_size().unwrap() >= 32);
    /// }
    /// ```
    pub fn uses_ballot(&self) -> bool {
        self.subgroup.is_multiple_of(32) && (32..=128).contains(&self.subgroup)
    }
    /// Whether the lane kernel is built with its subgroup entry point (`main_ballot.wgsl`):
    /// where [`uses_ballot`](Self::uses_ballot), or, with `GLIFSIM_LANE_BALLOT=1`, wherever
    /// the probe found subgroups along the local index, so that the entry point's branch for
    /// subgroups narrower than a word runs on an adapter that has them (the tests' use).
    ///
    /// ```
    /// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return }; // no GPU adapter here
    /// if ctx.uses_ballot() {
    ///     assert!(ctx.lane_subgroup_entry());
    /// }
    /// ```
    pub fn lane_subgroup_entry(&self) -> bool {
        self.uses_ballot() || (self.subgroup > 0 && env_flag("GLIFSIM_LANE_BALLOT"))
    }
    /// Whether the wide kernel ([`GpuOptions::wide`](crate::gpu::GpuOptions::wide)) builds
    /// spike words with `subgroupBallot` (wide_ballot.wgsl) rather than with workgroup atomics
    /// (wide_workgroup.wgsl). On CPU drivers such as lavapipe, where the ballot entry point is
    /// the faster (LIF at 1M neurons on a 2-core VM: 1.5× per step and fused, 1.4× fused with
    /// noise); on GPUs only with `GLIFSIM_WIDE_BALLOT=1`, because on an H200 the atomics are
    /// the faster (LIF per step 1.08× at 1M and 1.10× at 16M neurons, fused 1.10× and 1.19×:
    /// the four ballots and the word assembly of each step cost more than two barriers).
    /// Either way it needs subgroups laid out along the local index whose size is a multiple
    /// of 8 up to 128 (32 on NVIDIA, 8 on lavapipe). The entry point reads the size at run
    /// time and serves any size of that kind, so a driver may size the step pipeline unlike
    /// the probe (every desktop GPU's sizes are multiples of 8). It has no branch for narrower
    /// subgroups, unlike the lane kernel's: the barriers of one, even never taken, halve the
    /// wide kernel's speed on lavapipe. The results are identical either way.
    /// `GLIFSIM_WIDE_BALLOT=0` takes the atomics on CPU drivers too.
    ///
    /// ```
    /// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return }; // no GPU adapter here
    /// if ctx.wide_ballot() {
    ///     assert_eq!(ctx.subgroup_size().unwrap() % 8, 0);
    /// }
    /// ```
    pub fn wide_ballot(&self) -> bool {
        let fits = self.subgroup > 0 && self.subgroup.is_multiple_of(8) && self.subgroup <= 128;
        let default = match std::env::var("GLIFSIM_WIDE_BALLOT").as_deref() {
            Ok("1") => true,
            Ok("0") => false,
            _ => self.summary.is_cpu(),
        };
        fits && default
    }
    /// How the step kernels build spike words on this context, in words: by subgroup ballot
    /// or workgroup atomics, for the wide and the lane kernel (see [`Self::wide_ballot`] and
    /// [`Self::uses_ballot`]). `glifsim bench` prints it with the adapter.
    ///
    /// ```no_run
    /// let ctx = glifsim::gpu::GpuContext::new()?;
    /// println!("spike words by {}", ctx.spike_word_method());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn spike_word_method(&self) -> &'static str {
        match (self.uses_ballot(), self.wide_ballot()) {
            (true, true) => "subgroup ballot",
            (true, false) => "workgroup atomics (wide kernel), subgroup ballot (lane kernel)",
            (false, true) => "subgroup ballot (wide kernel), workgroup atomics (lane kernel)",
            (false, false) => "workgroup atomics",
        }
    }
    /// The subgroup size where the probe found subgroups laid out along the local invocation
    /// index (what the ballot entry points need), else `None` (no subgroups, another layout,
    /// or `GLIFSIM_NO_BALLOT=1`).
    ///
    /// ```
    /// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return }; // no GPU adapter here
    /// println!("subgroups of {:?}", ctx.subgroup_size()); // Some(32) on NVIDIA, Some(8) on lavapipe
    /// ```
    pub fn subgroup_size(&self) -> Option<u32> {
        (self.subgroup > 0).then_some(self.subgroup)
    }
    /// Whether the step kernels take their dispatch's step range as immediates (push
    /// constants, set in the compute pass before each dispatch) instead of a uniform that the
    /// host writes into a buffer before each submission: where the device has
    /// `Features::IMMEDIATES` with room for the 32-byte `Dispatch` (Vulkan, Metal, DX12).
    /// A run of one step then writes no buffer at all (without a schedule), which is what an
    /// interactive step submits. `GLIFSIM_NO_IMMEDIATES=1` turns it off; the results are
    /// identical either way.
    ///
    /// ```
    /// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return }; // no GPU adapter here
    /// if ctx.has_immediates() {
    ///     assert!(ctx.device().features().contains(wgpu::Features::IMMEDIATES));
    /// }
    /// ```
    pub fn has_immediates(&self) -> bool {
        self.features.contains(wgpu::Features::IMMEDIATES)
            && self.limits.max_immediate_size >= crate::gpu::engine::DISPATCH_BYTES
            && !env_flag("GLIFSIM_NO_IMMEDIATES")
    }
    /// Whether shaders may use 64-bit integers (Philox's multiply in one instruction).
    /// `GLIFSIM_NO_INT64=1` turns it off.
    ///
    /// ```
    /// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return }; // no GPU adapter here
    /// if ctx.has_int64() {
    ///     assert!(ctx.device().features().contains(wgpu::Features::SHADER_INT64));
    /// }
    /// ```
    pub fn has_int64(&self) -> bool {
        self.features.contains(wgpu::Features::SHADER_INT64) && !env_flag("GLIFSIM_NO_INT64")
    }
    /// The wgpu device.
    ///
    /// ```
    /// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return }; // no GPU adapter here
    /// // Your own wgpu work on the device the simulators use.
    /// let buf = ctx.device().create_buffer(&wgpu::BufferDescriptor {
    ///     label: Some("mine"),
    ///     size: 1024,
    ///     usage: wgpu::BufferUsages::STORAGE,
    ///     mapped_at_creation: false,
    /// });
    /// assert_eq!(buf.size(), 1024);
    /// ```
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }
    /// The wgpu queue.
    ///
    /// ```
    /// let Ok(ctx) = glifsim::gpu::GpuContext::new() else { return }; // no GPU adapter here
    /// let buf = ctx.device().create_buffer(&wgpu::BufferDescriptor {
    ///     label: Some("mine"),
    ///     size: 16,
    ///     usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
    ///     mapped_at_creation: false,
    /// });
    /// ctx.queue().write_buffer(&buf, 0, &[0u8; 16]);
    /// ctx.queue().submit([]);
    /// ```
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// Return (and clear) an error the device reported asynchronously.
    pub(crate) fn take_error(&self) -> Result<()> {
        if let Some(why) = self.lost() {
            return Err(Error::Device(why));
        }
        match self.error.lock().unwrap().take() {
            Some(e) => Err(Error::Device(e)),
            None => Ok(()),
        }
    }

    /// Wait for submission `index` (the latest when `None`), blocking in the driver, turning
    /// device errors into `Error::Device`.
    #[track_caller]
    pub(crate) fn wait(&self, index: Option<wgpu::SubmissionIndex>) -> Result<()> {
        self.wait_inner(index, None)
    }

    /// Wait for submission `index` like [`wait`](Self::wait), but first, for up to
    /// [`spin_wait`](Self::spin_wait), poll the device (which runs the buffer-map callbacks)
    /// until `done` says the work the caller needs, typically its mapped readback, is there.
    ///
    /// The polling uses `PollType::Poll`, not a wait with a zero timeout: in wgpu-core 30.0.2 a
    /// wait that times out while another thread submits on the same device can trip an
    /// assertion in `Device::maintain` (fixed upstream in gfx-rs/wgpu#9958), which the test of
    /// threads sharing a context hit within a few runs.
    #[track_caller]
    pub(crate) fn wait_until(
        &self,
        index: Option<wgpu::SubmissionIndex>,
        done: impl Fn() -> bool,
    ) -> Result<()> {
        self.wait_inner(index, Some(&done))
    }

    #[track_caller]
    fn wait_inner(
        &self,
        index: Option<wgpu::SubmissionIndex>,
        done: Option<&dyn Fn() -> bool>,
    ) -> Result<()> {
        // At trace level each wait is logged before and after, with its caller, so that a wait
        // that never returns shows where it was entered (RUST_LOG=glifsim=trace).
        log::trace!("waiting for {index:?} ({})", std::panic::Location::caller());
        if let Some(why) = self.lost() {
            return Err(Error::Device(why));
        }
        let t = Instant::now();
        let until = t + self.spin_wait();
        while let Some(done) = done.filter(|_| Instant::now() < until) {
            self.poll(None)?;
            if done() {
                log::trace!(
                    "done after {:.1} µs polling",
                    t.elapsed().as_secs_f64() * 1e6
                );
                return self.take_error();
            }
            std::hint::spin_loop();
        }
        self.poll(Some(wgpu::PollType::Wait {
            submission_index: index,
            timeout: Some(Duration::from_secs(600)),
        }))?;
        log::trace!("waited {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        self.take_error()
    }

    /// One poll of the device: `Some(wait)` blocks as it says, `None` only checks. A device
    /// error the callbacks caught (a lost device says why it was lost) is reported in
    /// preference to the poll's own, and wgpu's panic on a device that fails inside the poll
    /// becomes an error.
    fn poll(&self, wait: Option<wgpu::PollType>) -> Result<()> {
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.device.poll(wait.unwrap_or(wgpu::PollType::Poll))
        }));
        let failed = match res {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(wgpu::PollError::Timeout)) => {
                "the GPU did not finish within 600 s (a hung kernel or driver)".to_string()
            }
            Ok(Err(e)) => format!("waiting for the GPU: {e}"),
            Err(panic) => format!(
                "the GPU device failed while waiting: {}",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)")
            ),
        };
        // One plain poll runs the callbacks a failed wait skipped: a lost (or destroyed)
        // device reports itself there.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.device.poll(wgpu::PollType::Poll)
        }));
        self.take_error()?;
        Err(Error::Device(failed))
    }

    /// Create a buffer, turning out-of-memory and validation failures into errors.
    pub(crate) fn buffer(
        &self,
        label: &str,
        size: u64,
        usage: wgpu::BufferUsages,
    ) -> Result<wgpu::Buffer> {
        if let Some(why) = self.lost() {
            return Err(Error::Device(why));
        }
        if size > self.limits.max_buffer_size {
            return Err(Error::TooLarge {
                needed: size,
                available: Some(self.limits.max_buffer_size),
                what: format!("bytes in buffer '{label}', more than the device's largest buffer"),
            });
        }
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4).next_multiple_of(4),
            usage,
            mapped_at_creation: false,
        });
        let v = pollster::block_on(val.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = o {
            return Err(Error::Device(format!(
                "out of device memory allocating {size} bytes for '{label}': {e}"
            )));
        }
        if let Some(e) = v {
            return Err(Error::Device(format!("creating buffer '{label}': {e}")));
        }
        Ok(buf)
    }

    /// Copy a buffer's first `size` bytes back to the host.
    #[track_caller]
    pub(crate) fn read_buffer(&self, src: &wgpu::Buffer, size: u64) -> Result<Vec<u8>> {
        let mut bytes = self.read_ranges(&[(src, 0, size.next_multiple_of(4))])?;
        bytes.truncate(size as usize);
        Ok(bytes)
    }

    /// Copy byte ranges `(buffer, offset, size)` back to the host, concatenated in the order
    /// given: one submission and one map for every [`READ_BATCH_BYTES`] or so, instead of one
    /// per range. Offsets and sizes are multiples of 4 (every glifsim buffer holds 4-byte
    /// values).
    #[track_caller]
    pub(crate) fn read_ranges(&self, ranges: &[(&wgpu::Buffer, u64, u64)]) -> Result<Vec<u8>> {
        let total: u64 = ranges.iter().map(|r| r.2).sum();
        let mut out = Vec::with_capacity(total as usize);
        let mut rest = ranges;
        while !rest.is_empty() {
            // The longest prefix within the batch size (at least one range: a range of a
            // buffer that exists fits in a staging buffer).
            let mut take = 0;
            let mut bytes = 0u64;
            while take < rest.len() && (take == 0 || bytes + rest[take].2 <= READ_BATCH_BYTES) {
                bytes += rest[take].2;
                take += 1;
            }
            let staging = self.buffer(
                "readback",
                bytes,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            )?;
            let mut enc = self.device.create_command_encoder(&Default::default());
            let mut at = 0;
            for &(src, offset, size) in &rest[..take] {
                debug_assert!(offset % 4 == 0 && size % 4 == 0);
                enc.copy_buffer_to_buffer(src, offset, &staging, at, size);
                at += size;
            }
            let idx = self.queue.submit([enc.finish()]);
            out.extend_from_slice(&map_read(self, &staging, bytes, Some(idx))?);
            rest = &rest[take..];
        }
        Ok(out)
    }

    /// Compile a WGSL module, returning validation errors as `Error::Device`.
    pub(crate) fn shader(&self, label: &str, source: &str) -> Result<wgpu::ShaderModule> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        // Bounds checks stay on. wgpu's loop bounding (a counter added to every loop so that a
        // driver may not assume an untrusted loop ends) is off unless
        // GLIFSIM_FORCE_LOOP_BOUNDING=1: it can keep drivers from unrolling the kernels' short
        // loops over K, J and Philox's rounds.
        let checks = wgpu::ShaderRuntimeChecks {
            force_loop_bounding: env_flag("GLIFSIM_FORCE_LOOP_BOUNDING"),
            ..wgpu::ShaderRuntimeChecks::checked()
        };
        // SAFETY: with bounds checks kept, `create_shader_module_trusted` only asks that no
        // loop run forever. glifsim's shaders are its own (`shaders/`, embedded at build time)
        // and every loop in them is a counted `for` whose counter only its increment changes
        // and whose bound does not change in the loop: `tests/shaders.rs`
        // (`every_loop_is_counted`) checks that for every file.
        let m = unsafe { self.device.create_shader_module_trusted(desc, checks) };
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Device(format!("shader {label}: {e}")));
        }
        Ok(m)
    }

    /// Run a one-binding kernel (`@group(0) @binding(0)`, entry point `main`) as one
    /// workgroup, then read `bytes` bytes of `buf` back.
    fn run_once(
        &self,
        label: &str,
        source: &str,
        buf: &wgpu::Buffer,
        bytes: u64,
    ) -> Result<Vec<u8>> {
        let module = self.shader(label, source)?;
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        let bg = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: buf.as_entire_binding(),
            }],
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(1, 1, 1);
        }
        self.queue.submit([enc.finish()]);
        self.read_buffer(buf, bytes)
    }

    /// Run `shaders/probe_subgroups.wgsl`: the subgroup size when every invocation of a
    /// 256-wide workgroup sits in a subgroup of one size at lane `index % size`, else 0.
    /// `GLIFSIM_NO_BALLOT=1` forces 0.
    fn probe_subgroups(&self) -> Result<u32> {
        if !self.features.contains(wgpu::Features::SUBGROUP) || env_flag("GLIFSIM_NO_BALLOT") {
            return Ok(0);
        }
        let buf = self.buffer(
            "probe",
            256 * 4,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        )?;
        let raw = self.run_once(
            "probe_subgroups",
            crate::gpu::shaders::PROBE_SUBGROUPS,
            &buf,
            1024,
        )?;
        let out: Vec<u32> = bytemuck::pod_collect_to_vec(&raw);
        let size = out[0] & 0xffff;
        log::debug!(
            "subgroup probe: size {size}, {} of 256 invocations off the linear layout",
            out.iter().filter(|&&x| x != size).count()
        );
        let linear = size > 0 && size.is_power_of_two() && 256 % size == 0;
        Ok(if linear && out.iter().all(|&x| x == size) {
            size
        } else {
            0
        })
    }

    /// Run `shaders/calibrate.wgsl` on values where one rounding and two differ.
    fn calibrate(&self) -> Result<Arith> {
        // a·b = 1 + 2⁻¹¹ + 2⁻²⁴ exactly; rounded to f32 it is 1 + 2⁻¹¹ (a tie, to even).
        let a = 1.0f32 + 2f32.powi(-12);
        let c = -(1.0f32 + 2f32.powi(-11));
        let data = [a, a, c, f32::NAN];
        let buf = self.buffer(
            "calibrate",
            16,
            wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        )?;
        self.queue
            .write_buffer(&buf, 0, bytemuck::cast_slice(&data));
        let raw = self.run_once("calibrate", crate::gpu::shaders::CALIBRATE, &buf, 16)?;
        let out: Vec<f32> = bytemuck::pod_collect_to_vec(&raw);
        let got = out[3];
        let fused = Arith::Fused.fma(a, a, c);
        let separate = Arith::Separate.fma(a, a, c);
        if got.to_bits() == fused.to_bits() {
            Ok(Arith::Fused)
        } else if got.to_bits() == separate.to_bits() {
            Ok(Arith::Separate)
        } else {
            Err(Error::Device(format!(
                "calibration: fma({a}, {a}, {c}) gave {got:e}, neither fused ({fused:e}) nor separate ({separate:e})"
            )))
        }
    }
}

/// Map `staging` (after submission `index`), copy its first `size` bytes out, unmap.
#[track_caller]
pub(crate) fn map_read(
    ctx: &GpuContext,
    staging: &wgpu::Buffer,
    size: u64,
    index: Option<wgpu::SubmissionIndex>,
) -> Result<Vec<u8>> {
    let slice = staging.slice(..size.next_multiple_of(4));
    map_slices(ctx, &[slice], index, "a readback buffer")?;
    let bytes = {
        let view = slice
            .get_mapped_range()
            .map_err(|e| Error::Device(format!("reading a mapped buffer: {e:?}")))?;
        view[..size as usize].to_vec()
    };
    staging.unmap();
    Ok(bytes)
}

/// Map `slices` for reading once submission `index` is done, waiting (polling first, see
/// [`GpuContext::wait_until`]) until every map callback has run; `what` names them in errors.
#[track_caller]
pub(crate) fn map_slices(
    ctx: &GpuContext,
    slices: &[wgpu::BufferSlice<'_>],
    index: Option<wgpu::SubmissionIndex>,
    what: &str,
) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for s in slices {
        let (tx, done) = (tx.clone(), done.clone());
        s.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
            done.fetch_add(1, Ordering::Release);
        });
    }
    drop(tx);
    ctx.wait_until(index, || done.load(Ordering::Acquire) == slices.len())?;
    for _ in slices {
        mapped(&rx, what)?;
    }
    Ok(())
}

/// How long a map callback may take to arrive after the wait for its submission returned
/// (it runs on whichever thread polled the device, normally at once).
const MAP_CALLBACK_TIMEOUT: Duration = Duration::from_secs(60);

/// The result of one buffer-map callback, received on `rx` after the wait for its submission:
/// an error, not a hang, if the callback never runs.
fn mapped(
    rx: &std::sync::mpsc::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
    what: &str,
) -> Result<()> {
    match rx.recv_timeout(MAP_CALLBACK_TIMEOUT) {
        Ok(r) => r.map_err(|e| Error::Device(format!("mapping {what}: {e}"))),
        Err(_) => Err(Error::Device(format!(
            "mapping {what}: the map callback did not run within {} s of the GPU finishing",
            MAP_CALLBACK_TIMEOUT.as_secs()
        ))),
    }
}
