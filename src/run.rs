//! Running a [`Spec`]: simulators for every population, recording streamed to disk, progress,
//! Ctrl-C, the summary and the raster.
//!
//! ```
//! use glifsim::run::{run_spec, RunOptions};
//! use glifsim::spec::Spec;
//! use glifsim::Backend;
//! let toml = r#"
//! dt = 0.1
//! duration = 50.0
//! seed = 3
//! [[population]]
//! name = "exc"
//! model = "LIF"
//! neurons = 1000
//! [population.input]
//! bias = 14.0
//! noise = { mean = 0.0, std = 30.0 }
//! "#;
//! let dir = tempfile::tempdir()?;
//! let spec = Spec::parse(toml, &dir.path().join("spec.toml"))?;
//! let mut opts = RunOptions::new(dir.path().join("out"));
//! opts.backend = Backend::Cpu;
//! opts.plot = false;
//! let summary = run_spec(&spec, &opts, &mut |done, total| eprint!("\r{done}/{total}"))?;
//! assert!(summary.complete && summary.steps == 500);
//! println!("{} spikes", summary.populations[0].spike_count);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::checkpoint::{self, Checkpoint, RecorderPosition};
use crate::cpu::{check_host_memory, CpuSim};
use crate::error::{Error, Result};
use crate::gpu::{GpuContext, GpuOptions, GpuSim};
use crate::record::{IsiStats, PopulationRecorder, PopulationSummary, Summary, TraceRecorder};
use crate::spec::PreparedPopulation;
use crate::spec::{Spec, Value};
use crate::{Backend, Sampling, Simulator, StepOptions};

/// How to run a spec.
///
/// ```
/// use glifsim::run::RunOptions;
/// use glifsim::Backend;
/// let mut opts = RunOptions::new("out/exc");
/// opts.backend = Backend::Cpu;
/// opts.checkpoint_every = Some(10_000);
/// opts.plot = false;
/// // Another thread (a Ctrl-C handler) may stop the run after its current segment:
/// let stop = opts.stop.clone();
/// stop.store(true, std::sync::atomic::Ordering::Relaxed);
/// ```
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Which path.
    pub backend: Backend,
    /// Output directory (created if missing).
    pub out_dir: PathBuf,
    /// Set to stop after the current chunk (Ctrl-C sets it).
    pub stop: Arc<AtomicBool>,
    /// Draw `raster.png` at the end.
    pub plot: bool,
    /// Write `checkpoint.glifsim` in the output directory every this many steps.
    pub checkpoint_every: Option<u64>,
    /// Fault injection for tests: fail as a lost device would once this many steps are done.
    pub inject_fault_after: Option<u64>,
}

impl RunOptions {
    /// Defaults: auto backend, plot on, no checkpoints.
    ///
    /// ```
    /// use glifsim::run::RunOptions;
    /// let opts = RunOptions::new("out");
    /// assert!(opts.plot && opts.checkpoint_every.is_none());
    /// assert_eq!(opts.backend, glifsim::Backend::Auto);
    /// ```
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        RunOptions {
            backend: Backend::Auto,
            out_dir: out_dir.into(),
            stop: Arc::new(AtomicBool::new(false)),
            plot: true,
            checkpoint_every: None,
            inject_fault_after: None,
        }
    }
}

/// Open the simulators for `backend`, sharing one GPU context.
fn open_context(backend: Backend) -> Result<Option<Arc<GpuContext>>> {
    match backend {
        Backend::Cpu => Ok(None),
        Backend::Gpu => Ok(Some(Arc::new(GpuContext::new()?))),
        Backend::Auto => match GpuContext::new() {
            Ok(c) => {
                if c.adapter().is_cpu() {
                    eprintln!(
                        "note: the adapter '{}' is a CPU driver; glifsim's own CPU path (--backend cpu) computes the same bits and is usually faster there",
                        c.adapter().name
                    );
                }
                Ok(Some(Arc::new(c)))
            }
            Err(e) => {
                eprintln!("warning: {e}; running on the CPU path instead");
                Ok(None)
            }
        },
    }
}

/// Steps of a run's first segment (between two commits of its recordings, progress reports
/// and looks at Ctrl-C), and the fewest of any segment that no period cuts short.
const SEGMENT_STEPS: u64 = 100;
/// The most steps of a segment.
const MAX_SEGMENT_STEPS: u64 = 128 * SEGMENT_STEPS;
/// The wall time a segment aims at: segments double while they take under a quarter of it and
/// halve while they take more, so that a small population is not stopped every 100 steps (a
/// GPU waits for the host at the end of each segment, and within one the readback of a chunk
/// overlaps the compute of the next) and a large one still reports and stops promptly.
const SEGMENT_SECONDS: f64 = 0.25;

/// The next segment's length limit after one of `budget` steps took `secs` (see
/// [`SEGMENT_SECONDS`]). Only a segment of the full budget says something about it.
fn next_budget(budget: u64, steps: u64, secs: f64) -> u64 {
    if steps == budget && secs < SEGMENT_SECONDS / 4.0 {
        (budget * 2).min(MAX_SEGMENT_STEPS)
    } else if secs > SEGMENT_SECONDS {
        (budget / 2).max(SEGMENT_STEPS)
    } else {
        budget
    }
}

/// Steps from `done` to the next multiple of any of `periods` (each ≥ 1).
fn segment_steps(done: u64, periods: &[u64]) -> u64 {
    periods
        .iter()
        .map(|&p| p - done % p)
        .min()
        .unwrap_or(SEGMENT_STEPS)
}

/// Everything a run holds between segments.
struct Run<'a> {
    spec: &'a Spec,
    prepared: Vec<PreparedPopulation>,
    ctx: Option<Arc<GpuContext>>,
    sims: Vec<Simulator>,
    recs: Vec<PopulationRecorder>,
    traces: Vec<Option<TraceRecorder>>,
}

/// The GPU options of population `p` in a run: the host-input buffer only where it has host
/// input.
fn gpu_options(p: &PreparedPopulation) -> GpuOptions {
    GpuOptions {
        host_inputs: p.host_input_bytes > 0,
        ..Default::default()
    }
}

/// What one population of a run holds: the sizes behind the run's host-memory check, which
/// `glifsim run --dry-run` prints ([`dry_run`]).
///
/// ```
/// use glifsim::{run::dry_run, spec::Spec, Backend};
/// let text = "dt = 0.1\nduration = 1.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 1000\ntrials = 2\n";
/// let plan = dry_run(&Spec::parse(text, "run.toml".as_ref())?, Backend::Cpu)?;
/// let m = &plan.populations[0];
/// assert_eq!((m.device_bytes, m.shards), (0, 0)); // the CPU path
/// assert_eq!(m.recorder_bytes, 32 * 2000); // interval statistics, 32 bytes per neuron and trial
/// assert!(m.host_sim_bytes >= 8 * 2000); // V and r of every neuron and trial
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemoryPlan {
    /// The population's name.
    pub name: String,
    /// Its model.
    pub model: String,
    /// Neurons.
    pub neurons: usize,
    /// Trials.
    pub trials: usize,
    /// Device memory of its GPU simulator, bytes (0 on the CPU path).
    pub device_bytes: u64,
    /// Shards its GPU simulator cuts it into ([`GpuSim::layout`]; 0 on the CPU path).
    pub shards: usize,
    /// Host memory of its simulator, bytes: the CPU path's state; on the GPU path the frame a
    /// population of several shards assembles a chunk's spikes in, and the device memory that
    /// a CPU driver such as lavapipe takes from the host.
    pub host_sim_bytes: u64,
    /// Host memory of its recorders' interspike-interval statistics, bytes (32 per neuron and
    /// trial; 0 with `cv_isi = false`). A resumed run reads them from its checkpoint after
    /// this check, with the states going straight into the simulators.
    pub recorder_bytes: u64,
    /// Host memory of its host input (`input.npy` as `[T][B][N]` f32), bytes (0 without).
    pub host_input_bytes: u64,
}

/// The memory of each population of a run on `ctx` (None: the CPU path), computed without
/// allocating any of it.
fn memory_plan(
    prepared: &[PreparedPopulation],
    ctx: &Option<Arc<GpuContext>>,
) -> Result<Vec<MemoryPlan>> {
    prepared
        .iter()
        .map(|p| {
            let (n, trials) = (p.pop.len(), p.trials);
            let (device_bytes, shards, host_sim_bytes) = match ctx {
                None => (
                    0,
                    0,
                    CpuSim::<f32>::memory_needed(&p.pop, trials, p.drive.noise.is_some()),
                ),
                Some(c) => {
                    let l = GpuSim::layout(c, &p.pop, trials, &p.drive, &gpu_options(p))?;
                    let d = l.device_bytes;
                    // A CPU driver's device memory is the host's.
                    let host = l.host_bytes + if c.adapter().is_cpu() { d } else { 0 };
                    (d, l.shards, host)
                }
            };
            Ok(MemoryPlan {
                name: p.name.clone(),
                model: p.pop.model().name().into(),
                neurons: n,
                trials,
                device_bytes,
                shards,
                host_sim_bytes,
                recorder_bytes: if p.cv_isi {
                    PopulationRecorder::memory_needed(trials, n)
                } else {
                    0
                },
                host_input_bytes: p.host_input_bytes,
            })
        })
        .collect()
}

/// Refuse a run whose host-side memory exceeds what the host has (`MemAvailable`) before
/// anything is allocated: the recorders' interval statistics, and the CPU path's state or the
/// device memory a CPU driver takes from the host ([`memory_plan`]). Each simulator checks its
/// own memory, but allocations are checked one at a time while Linux hands out untouched pages
/// freely, so a run whose parts each fit but whose sum does not would be killed for want of
/// memory, perhaps hours in, instead of refused. The host inputs count only where they are not
/// loaded yet (`inputs_loaded` false: a dry run); a run has loaded them (each checked against
/// the host's memory first). Checkpoints add nothing that grows with the population: they are written from
/// the simulators a block at a time, `Checkpoint::write_from`.
fn check_run_memory(
    plan: &[MemoryPlan],
    ctx: &Option<Arc<GpuContext>>,
    inputs_loaded: bool,
) -> Result<()> {
    let sum = |f: fn(&MemoryPlan) -> u64| plan.iter().fold(0u64, |a, m| a.saturating_add(f(m)));
    let recorders = sum(|m| m.recorder_bytes);
    let sims = sum(|m| m.host_sim_bytes);
    let inputs = if inputs_loaded {
        0
    } else {
        sum(|m| m.host_input_bytes)
    };
    // The parts, each named where it is not 0.
    let gb = |b: u64| b as f64 / 1e9;
    let mut parts = Vec::new();
    if recorders > 0 {
        parts.push(format!(
            "{:.2} GB for the recorders' interspike-interval statistics (32 bytes per neuron and trial)",
            gb(recorders)
        ));
    }
    match ctx {
        None => parts.push(format!("{:.2} GB for the CPU path's state", gb(sims))),
        Some(c) if c.adapter().is_cpu() => parts.push(format!(
            "{:.2} GB of device memory, which the CPU driver '{}' takes from the host",
            gb(sims),
            c.adapter().name
        )),
        Some(_) => {}
    }
    if inputs > 0 {
        parts.push(format!("{:.2} GB for the host inputs", gb(inputs)));
    }
    let hint = if recorders > 0 {
        "; `cv_isi = false` under [population.record] keeps no interval statistics"
    } else {
        ""
    };
    check_host_memory(
        recorders.saturating_add(sims).saturating_add(inputs),
        &format!(
            "bytes of host memory for this run (MemAvailable): {}{hint}",
            parts.join(", ")
        ),
    )
}

/// A run planned but not run (`glifsim run --dry-run`): where it would run, for how many
/// steps, what each population would hold, and whether the host-memory check lets it start.
///
/// ```
/// use glifsim::{run::dry_run, spec::Spec, Backend};
/// // 10¹² neurons: refused before anything is allocated, saying why.
/// let text = "dt = 0.1\nduration = 1.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 1000000000000\n";
/// let plan = dry_run(&Spec::parse(text, "run.toml".as_ref())?, Backend::Cpu)?;
/// assert_eq!((plan.backend.as_str(), plan.steps), ("cpu", 10));
/// if plan.host_available.is_some() {
///     assert!(plan.refused.unwrap().contains("host memory"));
/// }
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DryRun {
    /// "gpu" or "cpu".
    pub backend: String,
    /// The adapter's name, or "cpu".
    pub adapter: String,
    /// Steps the spec asks for.
    pub steps: u64,
    /// Each population's memory.
    pub populations: Vec<MemoryPlan>,
    /// The host's available memory (`MemAvailable`), where known.
    pub host_available: Option<u64>,
    /// Why the run would be refused before its first step, if it would.
    pub refused: Option<String>,
}

/// Plan a run of `spec` on `backend` without running it: the spec is read and checked (its
/// parameter files too, its host input files by their headers) and the adapter opened, but
/// no simulator is built, no input loaded and nothing written.
/// Device memory is what glifsim would allocate; whether the adapter has it shows only when
/// it allocates (wgpu does not report a device's total memory).
///
/// ```
/// use glifsim::run::dry_run;
/// use glifsim::spec::Spec;
/// let toml = "dt = 0.1\nduration = 10.0\n[[population]]\nname = \"exc\"\nmodel = \"LIF\"\nneurons = 1000000\n";
/// let spec = Spec::parse(toml, std::path::Path::new("spec.toml"))?;
/// let plan = dry_run(&spec, glifsim::Backend::Cpu)?;
/// assert_eq!((plan.steps, plan.populations[0].recorder_bytes), (100, 32_000_000));
/// assert!(plan.refused.is_none());
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn dry_run(spec: &Spec, backend: Backend) -> Result<DryRun> {
    // Host input files are checked by their headers, not loaded.
    let prepared = spec.prepare_without_inputs()?;
    let ctx = open_context(backend)?;
    let populations = memory_plan(&prepared, &ctx)?;
    let refused = check_run_memory(&populations, &ctx, false)
        .err()
        .map(|e| e.to_string());
    Ok(DryRun {
        backend: if ctx.is_some() { "gpu" } else { "cpu" }.into(),
        adapter: ctx
            .as_ref()
            .map_or_else(|| "cpu".to_string(), |c| c.adapter().name.clone()),
        steps: spec.steps() as u64,
        populations,
        host_available: crate::cpu::host_memory_available(),
        refused,
    })
}

/// The simulators of a run, after [`check_run_memory`].
fn build_sims(
    prepared: &[PreparedPopulation],
    ctx: &Option<Arc<GpuContext>>,
) -> Result<Vec<Simulator>> {
    check_run_memory(&memory_plan(prepared, ctx)?, ctx, true)?;
    prepared
        .iter()
        .map(|p| {
            Ok(match ctx {
                // Built with its drive, not built and then rebuilt for it (`set_drive`).
                Some(c) => Simulator::Gpu(GpuSim::with_drive(
                    c.clone(),
                    &p.pop,
                    p.trials,
                    &p.drive,
                    &gpu_options(p),
                )?),
                None => {
                    let mut sim = Simulator::new(&p.pop, p.trials, Backend::Cpu)?;
                    sim.set_drive(p.drive.clone())?;
                    sim
                }
            })
        })
        .collect()
}

/// The trace files of population `p`: created (`rows` = None) or reopened at a checkpoint.
fn open_traces(
    dir: &Path,
    p: &PreparedPopulation,
    rows: Option<u64>,
) -> Result<Option<TraceRecorder>> {
    TraceRecorder::open(
        dir,
        &p.name,
        p.trials,
        p.pop.theta_len(),
        p.pop.j(),
        &p.v,
        &p.theta,
        &p.asc,
        rows,
    )
}

/// Run `spec`, writing into `opts.out_dir`; `progress(done, total)` is called after every
/// segment (100 steps at first, up to 12,800 while segments take under 62 ms; checkpoints
/// cut them at their steps; traces are sampled within them), and Ctrl-C (`opts.stop`) is
/// looked at there.
/// A run stopped by `opts.stop` returns its summary with `complete = false`; a run stopped by
/// an error writes its summary (saying where and why it stopped, and where the last checkpoint
/// is) and returns the error. Either way every file holds every completed step.
///
/// ```
/// use glifsim::{record::read_npy_u32, run::{run_spec, RunOptions}, spec::Spec, Backend};
/// let dir = tempfile::tempdir().unwrap();
/// let text = "dt = 0.1\nduration = 50.0\n[[population]]\nname = \"exc\"\nmodel = \"LIF\"\nneurons = 100\n[population.input]\nbias = 40.0\n[population.record]\nv = [0]\n";
/// let spec = Spec::parse(text, &dir.path().join("run.toml"))?;
/// let mut opts = RunOptions::new(dir.path().join("out"));
/// opts.backend = Backend::Cpu;
/// opts.plot = false;
/// let summary = run_spec(&spec, &opts, &mut |done, total| eprintln!("{done}/{total}"))?;
/// assert!(summary.complete && summary.steps == 500);
/// // One spike count per step, and V of neuron 0 before the first step and after every one.
/// assert_eq!(read_npy_u32(&dir.path().join("out/exc_counts.npy"))?.0, vec![500]);
/// assert!(dir.path().join("out/exc_v.npy").exists());
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn run_spec(
    spec: &Spec,
    opts: &RunOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Summary> {
    let prepared = spec.prepare()?;
    let dir = &opts.out_dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    // A stale checkpoint from an earlier run in this directory must not be resumed by mistake,
    // nor its raster be taken for this run's.
    let _ = std::fs::remove_file(dir.join(checkpoint::FILE_NAME));
    let _ = std::fs::remove_file(dir.join("raster.png"));
    let ctx = open_context(opts.backend)?;
    let sims = build_sims(&prepared, &ctx)?;
    let mut recs = Vec::new();
    let mut traces = Vec::new();
    for p in &prepared {
        recs.push(PopulationRecorder::create(
            dir,
            &p.name,
            p.trials,
            p.pop.len(),
            &p.spike_ranges,
            p.cv_isi,
        )?);
        traces.push(open_traces(dir, p, None)?);
    }
    let mut run = Run {
        spec,
        prepared,
        ctx,
        sims,
        recs,
        traces,
    };
    // Sample the initial state too.
    for i in 0..run.sims.len() {
        if let Some(t) = &mut run.traces[i] {
            let st = run.sims[i].state_of(t.neurons())?;
            t.sample(0, &st)?;
            t.commit()?;
        }
    }
    run.go(0, opts, progress)
}

/// Continue the run whose output directory `dir` holds a checkpoint: the simulators are rebuilt
/// from the saved spec on `opts.backend` (either path), restored, and the recordings cut back
/// to the checkpoint and continued. `opts.out_dir` must be `dir`.
///
/// ```
/// use glifsim::{record::read_npy_u32, run::{resume, run_spec, RunOptions}, spec::Spec, Backend};
/// let dir = tempfile::tempdir().unwrap();
/// let text = "dt = 0.1\nduration = 30.0\n[[population]]\nname = \"exc\"\nmodel = \"LIF\"\nneurons = 100\n[population.input]\nbias = 14.0\nnoise = { std = 30.0 }\n";
/// let spec = Spec::parse(text, &dir.path().join("run.toml"))?;
/// let counts = |out: &str| read_npy_u32(&dir.path().join(out).join("exc_counts.npy")).unwrap().1;
/// // The whole run, then one that fails at step 250 with a checkpoint at step 200.
/// let mut whole = RunOptions::new(dir.path().join("whole"));
/// whole.backend = Backend::Cpu;
/// whole.plot = false;
/// run_spec(&spec, &whole, &mut |_, _| {})?;
/// let mut cut = RunOptions::new(dir.path().join("cut"));
/// cut.backend = Backend::Cpu;
/// cut.plot = false;
/// cut.checkpoint_every = Some(100);
/// cut.inject_fault_after = Some(250);
/// assert!(run_spec(&spec, &cut, &mut |_, _| {}).is_err());
/// cut.inject_fault_after = None;
/// let s = resume(&cut, &mut |_, _| {})?;
/// assert!(s.complete);
/// assert_eq!(counts("cut"), counts("whole"));
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn resume(opts: &RunOptions, progress: &mut dyn FnMut(u64, u64)) -> Result<Summary> {
    let dir = &opts.out_dir;
    let path = dir.join(checkpoint::FILE_NAME);
    if !path.exists() {
        let f = checkpoint::FILE_NAME;
        let why = match Summary::read(dir) {
            Ok(s) if s.complete => {
                format!("the run there finished (a finished run removes its {f})")
            }
            Ok(_) => format!(
                "the run there stopped without a {f} (`glifsim run --checkpoint-every N` writes one every N steps)"
            ),
            Err(_) => format!("no {f} and no run's output there"),
        };
        return Err(Error::Usage(format!(
            "nothing to resume in {}: {why}",
            dir.display()
        )));
    }
    // The metadata first, to build the simulators from; then the file again, each state
    // straight into its simulator (no copy of it on the host).
    let meta = Checkpoint::read_meta(&path)?;
    let spec_json = meta.spec.clone().ok_or_else(|| {
        Error::format(
            &path,
            "checkpoint holds no spec: it was not written by `glifsim run`",
        )
    })?;
    let mut spec: Spec = serde_json::from_value(spec_json)
        .map_err(|e| Error::format(&path, format!("checkpoint spec: {e}")))?;
    spec.base_dir = meta.spec_dir.clone().unwrap_or_default();
    spec.path = path.clone();
    let prepared = spec.prepare()?;
    if prepared.len() != meta.populations.len() {
        return Err(Error::format(
            &path,
            "checkpoint population count does not match its spec",
        ));
    }
    let ctx = open_context(opts.backend)?;
    // The host memory check counts the interval statistics, which the checkpoint brings.
    let mut sims = build_sims(&prepared, &ctx)?;
    let mut ck = Checkpoint::read_into(&path, &mut sims)?;
    let steps = ck.meta.steps;
    let mut recs = Vec::new();
    let mut traces = Vec::new();
    for (i, p) in prepared.iter().enumerate() {
        let m = &ck.meta.populations[i];
        let pos = m.recorder.as_ref().ok_or_else(|| {
            Error::format(
                &path,
                format!("population '{}' has no recording position", m.name),
            )
        })?;
        // The statistics move from the checkpoint to the recorder (no copy: they may be tens
        // of GB).
        let isi = match (p.cv_isi, ck.isi[i].take()) {
            (true, None) => {
                return Err(Error::format(
                    &path,
                    format!("population '{}' has no spike statistics", m.name),
                ))
            }
            (true, some) => some,
            (false, _) => None,
        };
        recs.push(PopulationRecorder::reopen(
            dir,
            &p.name,
            p.trials,
            p.pop.len(),
            &p.spike_ranges,
            steps,
            pos,
            isi,
        )?);
        traces.push(open_traces(dir, p, Some(pos.trace_rows))?);
    }
    let mut run = Run {
        spec: &spec,
        prepared,
        ctx,
        sims,
        recs,
        traces,
    };
    run.go(steps, opts, progress)
}

impl Run<'_> {
    fn checkpoint(&self, done: u64, dir: &Path) -> Result<()> {
        let named: Vec<(&str, &Simulator)> = self
            .prepared
            .iter()
            .zip(&self.sims)
            .map(|(p, s)| (p.name.as_str(), s))
            .collect();
        // The states are written straight from the simulators, a block at a time.
        let mut meta = Checkpoint::meta_of(&named)?;
        meta.steps = done;
        meta.spec = Some(serde_json::to_value(self.spec).expect("spec serialises"));
        meta.spec_dir = Some(
            std::fs::canonicalize(&self.spec.base_dir)
                .unwrap_or_else(|_| self.spec.base_dir.clone()),
        );
        for (i, m) in meta.populations.iter_mut().enumerate() {
            m.recorder = Some(RecorderPosition {
                spike_rows: self.recs[i].spike_rows(),
                trace_rows: self.traces[i].as_ref().map_or(0, |t| t.rows()),
                total: self.recs[i].total,
            });
        }
        let isi: Vec<Option<&IsiStats>> = self.recs.iter().map(|r| r.isi.as_ref()).collect();
        let sims: Vec<&Simulator> = self.sims.iter().collect();
        Checkpoint::write_from(&dir.join(checkpoint::FILE_NAME), &meta, &sims, &isi)
    }

    fn go(
        &mut self,
        start_step: u64,
        opts: &RunOptions,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Summary> {
        let dir = &opts.out_dir;
        let total = self.spec.steps() as u64;
        // A segment (one call per population, then the recorders' commit and the progress
        // report) ends at the next multiple of every period: the segment budget (100 steps
        // at first, then as `next_budget` finds) and the checkpoint interval. (Their greatest
        // common divisor would serve as well but makes one-step segments of periods such as 7
        // and 100, and a GPU waits for the host at the end of every segment.) Traces are
        // sampled within segments (`Simulator::run_sampled`: on a GPU, on the device).
        let samplings: Vec<Option<Sampling>> = self
            .prepared
            .iter()
            .zip(&self.traces)
            .map(|(p, t)| {
                t.as_ref().map(|t| Sampling {
                    neurons: t.neurons().to_vec(),
                    every: p.every.max(1) as u64,
                })
            })
            .collect();
        let mut budget = SEGMENT_STEPS;
        let mut periods = vec![budget];
        if let Some(every) = opts.checkpoint_every {
            periods.push(every.max(1));
        }
        let mut walls = vec![0.0f64; self.prepared.len()];
        let started = Instant::now();
        let mut done = start_step;
        let mut stopped: Option<String> = None;
        let mut error: Option<Error> = None;
        let mut ck_note = String::new();
        let mut last_checkpoint: Option<u64> = (start_step > 0).then_some(start_step);
        'outer: while done < total {
            periods[0] = budget;
            let mut n = segment_steps(done, &periods).min(total - done);
            // An injected fault comes exactly at its step.
            if let Some(f) = opts.inject_fault_after.filter(|&f| f > done) {
                n = n.min(f - done);
            }
            let n = n as usize;
            let segment_started = Instant::now();
            if opts.inject_fault_after.is_some_and(|f| done >= f) {
                error = Some(Error::Device("device lost (injected fault)".into()));
            }
            for (i, p) in self.prepared.iter().enumerate() {
                if error.is_some() {
                    break;
                }
                let t0 = Instant::now();
                let (rec, sim) = (&mut self.recs[i], &mut self.sims[i]);
                let base = done;
                let spikes = |t: usize, w: &[u32]| rec.push(base + t as u64, w);
                let per = p.trials * p.pop.len();
                let x = p
                    .host_input
                    .as_ref()
                    .map(|x| &x[done as usize * per..(done as usize + n) * per]);
                let o = StepOptions::default();
                let res = match (&mut self.traces[i], &samplings[i]) {
                    (Some(tr), Some(sm)) => {
                        sim.run_sampled(n, x, o, sm, spikes, |step, st| tr.sample(step, &st))
                    }
                    _ => match x {
                        Some(x) => sim.run_with(n, x, o, spikes),
                        None => sim.run_driven_with(n, o, spikes),
                    },
                };
                walls[i] += t0.elapsed().as_secs_f64();
                if let Err(e) = res {
                    error = Some(e);
                }
            }
            if let Some(e) = &error {
                ck_note = match last_checkpoint {
                    Some(s) => format!(
                        "the last checkpoint is {} at step {s}; continue with `glifsim resume {}`",
                        dir.join(checkpoint::FILE_NAME).display(),
                        dir.display()
                    ),
                    None => "no checkpoint was written (use --checkpoint-every N)".to_string(),
                };
                stopped = Some(format!("error after step {done}: {e}; {ck_note}"));
                break 'outer;
            }
            done += n as u64;
            for i in 0..self.prepared.len() {
                if let Some(t) = &mut self.traces[i] {
                    t.commit()?;
                }
                self.recs[i].commit()?;
            }
            if opts
                .checkpoint_every
                .is_some_and(|every| done.is_multiple_of(every.max(1)))
                && done < total
            {
                self.checkpoint(done, dir)?;
                last_checkpoint = Some(done);
            }
            progress(done, total);
            budget = next_budget(budget, n as u64, segment_started.elapsed().as_secs_f64());
            if opts.stop.load(Ordering::SeqCst) && done < total {
                if opts.checkpoint_every.is_some() {
                    self.checkpoint(done, dir)?;
                }
                stopped = Some(format!("interrupted after {done} of {total} steps"));
                break;
            }
        }
        for r in &mut self.recs {
            r.commit()?;
        }
        let (backend, adapter, arith) = match &self.ctx {
            Some(c) => ("gpu", c.adapter().name.clone(), c.arith()),
            None => ("cpu", "cpu".to_string(), crate::Arith::Separate),
        };
        let secs = done as f64 * self.spec.dt / 1000.0;
        let ran = (done - start_step) as f64;
        let summary = Summary {
            glifsim: env!("CARGO_PKG_VERSION").to_string(),
            backend: backend.into(),
            adapter,
            arith: arith.to_string(),
            dt: self.spec.dt,
            steps: done,
            steps_requested: total,
            complete: done == total && error.is_none(),
            stopped_because: stopped.clone(),
            wall_time_s: started.elapsed().as_secs_f64(),
            populations: self
                .prepared
                .iter()
                .zip(&self.recs)
                .zip(&walls)
                .map(|((p, r), &w)| {
                    let nt = (p.pop.len() * p.trials) as f64;
                    PopulationSummary {
                        name: p.name.clone(),
                        model: p.pop.model().name().into(),
                        neurons: p.pop.len(),
                        trials: p.trials,
                        spike_count: r.total,
                        mean_rate_hz: if secs > 0.0 {
                            r.total as f64 / (nt * secs)
                        } else {
                            0.0
                        },
                        cv_isi: r.isi.as_ref().and_then(IsiStats::mean_cv),
                        wall_time_s: w,
                        neuron_updates_per_s: if w > 0.0 { nt * ran / w } else { 0.0 },
                    }
                })
                .collect(),
        };
        summary.write(dir)?;
        if opts.plot && done > 0 {
            if let Err(e) = crate::plot::plot_dir(dir) {
                eprintln!("warning: raster not drawn: {e}");
            }
        }
        if done == total && error.is_none() {
            // A finished run has nothing to resume.
            let _ = std::fs::remove_file(dir.join(checkpoint::FILE_NAME));
        }
        match error {
            Some(Error::Device(msg)) => Err(Error::Device(format!(
                "{msg} (after step {done}; the files in {} hold every completed step); {ck_note}",
                dir.display()
            ))),
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }
}

/// The demo: `neurons` LIF neurons with heterogeneous bias, Gaussian noise and a 50 ms pulse,
/// for `duration` ms at Δt = 0.1 ms. No neurons, or a duration that is not a positive number,
/// is an error.
///
/// ```
/// let spec = glifsim::run::demo_spec(1_000, 300.0, 1)?;
/// assert_eq!(spec.steps(), 3_000);
/// assert!(glifsim::run::demo_spec(0, 300.0, 1).is_err());
/// assert!(glifsim::run::demo_spec(1_000, 0.0, 1).is_err());
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn demo_spec(neurons: usize, duration: f64, seed: u64) -> Result<Spec> {
    if neurons == 0 {
        return Err(Error::Usage("the demo needs at least one neuron".into()));
    }
    if !(duration.is_finite() && duration > 0.0) {
        return Err(Error::Usage(format!(
            "the demo's duration must be a positive number of ms, not {duration}"
        )));
    }
    // Bias from 11 to 19 nA across the population: V_∞ from 4 mV below to 4 mV above threshold.
    let bias: Vec<f64> = (0..neurons)
        .map(|i| 11.0 + 8.0 * i as f64 / neurons.max(2) as f64)
        .collect();
    let text = format!(
        r#"
dt = 0.1
duration = {duration:?}
seed = {seed}
[[population]]
name = "lif"
model = "LIF"
neurons = {neurons}
[population.params]
v_rest = -65.0
v_reset = -70.0
v_th = -50.0
tau_m = 20.0
t_ref = 2.0
[population.input]
noise = {{ mean = 0.0, std = 40.0 }}
schedule = [[{on:?}, 4.0], [{off:?}, 0.0]]
[population.record]
v = [0, {mid}, {last}]
every = 10
"#,
        on = duration / 2.0,
        off = duration / 2.0 + 50.0,
        mid = neurons / 2,
        last = neurons - 1,
    );
    let mut spec = Spec::parse(&text, Path::new("<demo>"))?;
    spec.populations[0].input.bias = Some(Value::List(bias));
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::{next_budget, segment_steps, MAX_SEGMENT_STEPS, SEGMENT_STEPS};

    #[test]
    fn segments_grow_while_quick_and_shrink_while_slow() {
        // Quick full segments double, up to the cap; a segment cut short by a period says
        // nothing about the budget.
        assert_eq!(next_budget(100, 100, 0.01), 200);
        assert_eq!(
            next_budget(MAX_SEGMENT_STEPS, MAX_SEGMENT_STEPS, 0.01),
            MAX_SEGMENT_STEPS
        );
        assert_eq!(next_budget(400, 7, 0.001), 400);
        // In between, it stays; slow segments halve, down to the floor.
        assert_eq!(next_budget(400, 400, 0.1), 400);
        assert_eq!(next_budget(400, 400, 0.6), 200);
        assert_eq!(
            next_budget(SEGMENT_STEPS, SEGMENT_STEPS, 5.0),
            SEGMENT_STEPS
        );
        // A run of quick segments reaches the cap in seven.
        let mut b = SEGMENT_STEPS;
        for _ in 0..7 {
            b = next_budget(b, b, 0.0);
        }
        assert_eq!(b, MAX_SEGMENT_STEPS);
    }

    #[test]
    fn segments_end_at_the_next_multiple_of_any_period() {
        // Samples every 7 steps within segments of 100: 7, 14, …, 98, 100, 105, …
        assert_eq!(segment_steps(0, &[100, 7]), 7);
        assert_eq!(segment_steps(98, &[100, 7]), 2);
        assert_eq!(segment_steps(100, &[100, 7]), 5);
        // A checkpoint every 50 and samples every 30, resumed from the checkpoint at 150.
        assert_eq!(segment_steps(150, &[100, 30, 50]), 30);
        assert_eq!(segment_steps(199, &[100, 30, 50]), 1);
        // 300 steps sampled every 7: 45 segments (a greatest common divisor gave 300).
        let (mut done, mut segments) = (0, 0);
        while done < 300 {
            done += segment_steps(done, &[100, 7]).min(300 - done);
            segments += 1;
        }
        assert_eq!(segments, 45);
    }
}
