//! Running a [`Spec`]: simulators for every population, recording streamed to disk, progress,
//! Ctrl-C, the summary and the raster.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::gpu::{GpuContext, GpuOptions};
use crate::record::{PopulationRecorder, PopulationSummary, Summary, TraceRecorder};
use crate::spec::{Spec, Value};
use crate::{Backend, Simulator, StepOptions};

/// How to run a spec.
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
}

impl RunOptions {
    /// Defaults: auto backend, plot on.
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        RunOptions {
            backend: Backend::Auto,
            out_dir: out_dir.into(),
            stop: Arc::new(AtomicBool::new(false)),
            plot: true,
        }
    }
}

/// Open the simulators for `backend`, sharing one GPU context.
fn open_context(backend: Backend) -> Result<Option<Arc<GpuContext>>> {
    match backend {
        Backend::Cpu => Ok(None),
        Backend::Gpu => Ok(Some(Arc::new(GpuContext::new()?))),
        Backend::Auto => match GpuContext::new() {
            Ok(c) => Ok(Some(Arc::new(c))),
            Err(e) => {
                log::warn!("{e}");
                eprintln!("warning: {e}; running on the CPU path instead");
                Ok(None)
            }
        },
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Run `spec`, writing into `opts.out_dir`; `progress(done, total)` is called after every chunk.
/// A run stopped by `opts.stop` returns its summary with `complete = false`; a run stopped by
/// an error writes its summary (saying where and why it stopped) and returns the error. Either
/// way every file holds every completed step.
pub fn run_spec(
    spec: &Spec,
    opts: &RunOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Summary> {
    let prepared = spec.prepare()?;
    let dir = &opts.out_dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let ctx = open_context(opts.backend)?;
    let mut sims = Vec::new();
    for p in &prepared {
        let mut sim = match &ctx {
            Some(c) => Simulator::on_gpu(
                c.clone(),
                &p.pop,
                p.trials,
                &GpuOptions {
                    host_inputs: p.host_input.is_some(),
                    ..Default::default()
                },
            )?,
            None => Simulator::new(&p.pop, p.trials, Backend::Cpu)?,
        };
        sim.set_drive(p.drive.clone())?;
        sims.push(sim);
    }
    let (backend, adapter, arith) = match &ctx {
        Some(c) => ("gpu", c.adapter().name.clone(), c.arith()),
        None => ("cpu", "cpu".to_string(), crate::Arith::Separate),
    };
    let mut recs = Vec::new();
    let mut traces = Vec::new();
    for p in &prepared {
        recs.push(PopulationRecorder::create(
            dir,
            &p.name,
            p.trials,
            p.pop.len(),
            &p.spike_ranges,
        )?);
        traces.push(TraceRecorder::create(
            dir,
            &p.name,
            p.trials,
            p.pop.len(),
            p.pop.theta_len(),
            p.pop.j(),
            &p.v,
            &p.theta,
            &p.asc,
        )?);
    }
    let total = spec.steps() as u64;
    let mut seg = 100usize;
    for (p, t) in prepared.iter().zip(&traces) {
        if t.is_some() {
            seg = gcd(seg, p.every);
        }
    }
    let mut walls = vec![0.0f64; prepared.len()];
    let start = Instant::now();
    let mut done = 0u64;
    let mut stopped: Option<String> = None;
    let mut error: Option<Error> = None;
    // Sample the initial state too.
    for (i, t) in traces.iter_mut().enumerate() {
        if let Some(t) = t {
            let st = sims[i].state()?;
            t.sample(0, &st)?;
            t.commit()?;
        }
    }
    'outer: while done < total {
        let n = (seg as u64).min(total - done) as usize;
        for (i, p) in prepared.iter().enumerate() {
            let t0 = Instant::now();
            let rec = &mut recs[i];
            let base = done;
            let res = match &p.host_input {
                Some(x) => {
                    let per = p.trials * p.pop.len();
                    let slice = &x[done as usize * per..(done as usize + n) * per];
                    sims[i].run_with(n, slice, StepOptions::default(), |t, w| {
                        rec.push(base + t as u64, w)
                    })
                }
                None => sims[i].run_driven_with(n, StepOptions::default(), |t, w| {
                    rec.push(base + t as u64, w)
                }),
            };
            walls[i] += t0.elapsed().as_secs_f64();
            if let Err(e) = res {
                stopped = Some(format!(
                    "error in population '{}' after step {done}: {e}",
                    p.name
                ));
                error = Some(e);
                break 'outer;
            }
        }
        done += n as u64;
        for (i, p) in prepared.iter().enumerate() {
            if let Some(t) = &mut traces[i] {
                if done % p.every as u64 == 0 {
                    let st = sims[i].state()?;
                    t.sample(done, &st)?;
                }
                t.commit()?;
            }
            recs[i].commit()?;
        }
        progress(done, total);
        if opts.stop.load(Ordering::SeqCst) && done < total {
            stopped = Some(format!("interrupted after {done} of {total} steps"));
            break;
        }
    }
    for r in &mut recs {
        r.commit()?;
    }
    let secs = done as f64 * spec.dt / 1000.0;
    let summary = Summary {
        glifsim: env!("CARGO_PKG_VERSION").to_string(),
        backend: backend.into(),
        adapter,
        arith: arith.to_string(),
        dt: spec.dt,
        steps: done,
        steps_requested: total,
        complete: done == total && error.is_none(),
        stopped_because: stopped,
        wall_time_s: start.elapsed().as_secs_f64(),
        populations: prepared
            .iter()
            .zip(&recs)
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
                    cv_isi: r.isi.mean_cv(),
                    wall_time_s: w,
                    neuron_updates_per_s: if w > 0.0 { nt * done as f64 / w } else { 0.0 },
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
    match error {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// The demo: `neurons` LIF neurons with heterogeneous bias, Gaussian noise and a 50 ms pulse,
/// for `duration` ms at Δt = 0.1 ms.
pub fn demo_spec(neurons: usize, duration: f64, seed: u64) -> Spec {
    // Bias from 11 to 19 nA across the population: V_∞ from 4 mV below to 4 mV above threshold.
    let bias: Vec<f64> = (0..neurons)
        .map(|i| 11.0 + 8.0 * i as f64 / neurons.max(2) as f64)
        .collect();
    let text = format!(
        r#"
dt = 0.1
duration = {duration}
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
schedule = [[{on}, 4.0], [{off}, 0.0]]
[population.record]
v = [0, {mid}, {last}]
every = 10
"#,
        on = duration / 2.0,
        off = duration / 2.0 + 50.0,
        mid = neurons / 2,
        last = neurons - 1,
    );
    let mut spec = Spec::parse(&text, Path::new("<demo>")).expect("demo spec parses");
    spec.populations[0].input.bias = Some(Value::List(bias));
    spec
}
