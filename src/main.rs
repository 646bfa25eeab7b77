//! The `glifsim` command line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use glifsim::bench::{self, BenchResult};
use glifsim::gpu::{list_adapters, GpuContext, DEFAULT_SPIN_WAIT};
use glifsim::run::{demo_spec, resume, run_spec, RunOptions};
use glifsim::spec::Spec;
use glifsim::{Backend, Model};

#[derive(Parser)]
#[command(
    name = "glifsim",
    version,
    about = "Large populations of linear integrate-and-fire neurons on any GPU"
)]
struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG also works.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a simulation described by a TOML spec file.
    Run {
        /// The spec file.
        spec: PathBuf,
        /// Which path to run on.
        #[arg(long, value_enum, default_value_t = Backend::Auto)]
        backend: Backend,
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Do not draw raster.png.
        #[arg(long)]
        no_plot: bool,
        /// Write DIR/checkpoint.glifsim every N steps (and on Ctrl-C).
        #[arg(long, value_name = "N")]
        checkpoint_every: Option<u64>,
        /// Check the spec and print what each population would hold in device and host
        /// memory, and whether the run would start, without running it or writing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Continue an interrupted run from the checkpoint in its output directory.
    Resume {
        /// The output directory of the interrupted run.
        dir: PathBuf,
        /// Which path to continue on (either path restores either's checkpoint).
        #[arg(long, value_enum, default_value_t = Backend::Auto)]
        backend: Backend,
        /// Keep writing checkpoints every N steps.
        #[arg(long, value_name = "N")]
        checkpoint_every: Option<u64>,
    },
    /// A million LIF neurons with noisy drive (fewer on the CPU path); writes the raster.
    Demo {
        /// Which path to run on.
        #[arg(long, value_enum, default_value_t = Backend::Auto)]
        backend: Backend,
        /// Output directory.
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
        /// Neurons (default 1,000,000 on a GPU, 100,000 on the CPU path or a CPU Vulkan driver).
        #[arg(long, value_parser = positive)]
        neurons: Option<usize>,
        /// Simulated time, ms.
        #[arg(long, default_value_t = 300.0)]
        duration: f64,
    },
    /// List the GPU adapters wgpu can see (Vulkan, Metal and DX12; WGPU_BACKEND=gl adds OpenGL).
    Adapters,
    /// Redraw raster.png from the files of an output directory.
    Plot {
        /// The output directory of a run.
        dir: PathBuf,
    },
    /// Measure neuron-updates per second and bandwidth.
    Bench {
        /// Models to measure.
        #[arg(long, value_delimiter = ',', default_value = "LIF,ALIF,GLIF2")]
        models: Vec<Model>,
        /// Population sizes.
        #[arg(long, value_delimiter = ',', default_value = "1000000", value_parser = positive)]
        sizes: Vec<usize>,
        /// Paths: cpu (one step per call, streamed input), cpu-fused and cpu-fused-noise
        /// (100-step runs driven by a bias, or bias and noise), gpu (one dispatch per step,
        /// streamed input), gpu-noise (one dispatch per step, on-GPU noise), gpu-fused and
        /// gpu-fused-noise (100 steps per dispatch)
        #[arg(
            long,
            value_delimiter = ',',
            default_values = bench::PATHS,
            value_parser = clap::builder::PossibleValuesParser::new(bench::PATHS)
        )]
        paths: Vec<String>,
        /// Steps timed per configuration (GPU); the CPU path times a tenth of them.
        #[arg(long, default_value_t = 1000, value_parser = positive)]
        steps: usize,
        /// Also time one interactive step (submit, compute, read back) at 1M neurons.
        #[arg(long)]
        interactive: bool,
        /// Neurons for --interactive (a small population shows the per-step overhead alone).
        #[arg(long, default_value_t = 1_000_000, value_parser = positive)]
        interactive_neurons: usize,
        /// Write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Give every parameter one value per neuron (within a few percent of the shared
        /// ones), as in a population of fitted neurons: the kernels then read each parameter
        /// from an array (the host holds 8 bytes per neuron and parameter while it builds).
        #[arg(long)]
        per_neuron: bool,
        /// Seconds each GPU configuration runs untimed before it is timed, and for which its
        /// timed run repeats (the fastest run counts): a GPU idles at low clocks and takes
        /// a fraction of a second to raise them. Default 0.5 (`bench::DEFAULT_MIN_TIME`).
        #[arg(long, value_name = "SECONDS", value_parser = seconds)]
        min_time: Option<std::time::Duration>,
    },
}

/// A count of at least one (`1_000_000` also reads), for clap.
fn positive(s: &str) -> Result<usize, String> {
    match s.replace('_', "").parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{s}' is not a whole number of at least 1")),
    }
}

/// A duration given in seconds (`0.5`), for clap.
fn seconds(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<f64>()
        .ok()
        .and_then(|x| std::time::Duration::try_from_secs_f64(x).ok())
        .ok_or_else(|| format!("'{s}' is not a non-negative number of seconds"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // wgpu-hal reports a missing Vulkan driver as errors; glifsim says it once, plainly.
    let level = match cli.verbose {
        0 => "warn,wgpu_hal=off",
        1 => "info,wgpu_hal=warn",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `glifsim run --dry-run`: each population's memory, the totals, and whether the run would
/// start (exit status 0) or be refused (1, with the run's own message).
fn print_dry_run(plan: &glifsim::run::DryRun) -> glifsim::Result<ExitCode> {
    let gb = |b: u64| format!("{:.3} GB", b as f64 / 1e9);
    let on_gpu = plan.backend == "gpu";
    println!(
        "dry run on {} ({}), {} steps; nothing simulated or written",
        plan.backend, plan.adapter, plan.steps
    );
    println!(
        "  {:<12} {:<6} {:>22}  {:>17}  {:>16}  {:>16}  {:>12}",
        "population",
        "model",
        "neurons × trials",
        "device in shards",
        "host: simulator",
        "host: ISI stats",
        "host: input"
    );
    let (mut device, mut host) = (0u64, 0u64);
    for m in &plan.populations {
        println!(
            "  {:<12} {:<6} {:>22}  {:>17}  {:>16}  {:>16}  {:>12}",
            m.name,
            m.model,
            format!("{} × {}", m.neurons, m.trials),
            if on_gpu {
                format!("{} in {}", gb(m.device_bytes), m.shards)
            } else {
                "-".into()
            },
            gb(m.host_sim_bytes),
            gb(m.recorder_bytes),
            gb(m.host_input_bytes)
        );
        device = device.saturating_add(m.device_bytes);
        host = host
            .saturating_add(m.host_sim_bytes)
            .saturating_add(m.recorder_bytes)
            .saturating_add(m.host_input_bytes);
    }
    let avail = plan
        .host_available
        .map_or_else(|| "unknown".to_string(), |a| format!("{} available", gb(a)));
    if on_gpu {
        println!(
            "total: device {} (wgpu does not report the adapter's own: an allocation it cannot hold fails when the run starts), host {} ({avail})",
            gb(device),
            gb(host)
        );
    } else {
        println!("total: host {} ({avail})", gb(host));
    }
    match &plan.refused {
        None => {
            println!("the run would start");
            Ok(ExitCode::SUCCESS)
        }
        Some(why) => {
            println!("the run would be refused: {why}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn real_main(cli: Cli) -> glifsim::Result<ExitCode> {
    match cli.command {
        Command::Run {
            spec,
            backend,
            out,
            no_plot,
            checkpoint_every,
            dry_run,
        } => {
            let spec = Spec::load(&spec)?;
            if dry_run {
                return print_dry_run(&glifsim::run::dry_run(&spec, backend)?);
            }
            let mut opts = RunOptions::new(&out);
            opts.backend = backend;
            opts.plot = !no_plot;
            opts.checkpoint_every = checkpoint_every;
            run(Job::Fresh(&spec), opts)
        }
        Command::Resume {
            dir,
            backend,
            checkpoint_every,
        } => {
            let mut opts = RunOptions::new(&dir);
            opts.backend = backend;
            opts.checkpoint_every = checkpoint_every;
            run(Job::Resume, opts)
        }
        Command::Demo {
            backend,
            out,
            neurons,
            duration,
        } => {
            let on_cpu_device = match backend {
                Backend::Cpu => true,
                _ => list_adapters().iter().all(|a| a.is_cpu()),
            };
            let n = neurons.unwrap_or(if on_cpu_device { 100_000 } else { 1_000_000 });
            if neurons.is_none() && on_cpu_device {
                eprintln!("note: no hardware GPU found; the demo is sized down to {n} neurons (--neurons to change)");
            }
            let mut opts = RunOptions::new(&out);
            opts.backend = backend;
            run(Job::Fresh(&demo_spec(n, duration, 1)?), opts)
        }
        Command::Adapters => {
            let list = list_adapters();
            if list.is_empty() {
                println!(
                    "no adapters found (on Linux: apt-get install mesa-vulkan-drivers libvulkan1)"
                );
            }
            for a in list {
                println!("{a}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plot { dir } => {
            let p = glifsim::plot::plot_dir(&dir)?;
            println!("wrote {}", p.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            models,
            sizes,
            paths,
            steps,
            interactive,
            interactive_neurons,
            json,
            per_neuron,
            min_time,
        } => {
            let min_time = min_time.unwrap_or(bench::DEFAULT_MIN_TIME);
            let want = |p: &str| paths.iter().any(|x| x == p);
            let mut results: Vec<BenchResult> = Vec::new();
            let ctx = if paths.iter().any(|p| p.starts_with("gpu")) || interactive {
                match GpuContext::new() {
                    Ok(c) => Some(Arc::new(c)),
                    Err(e) => {
                        eprintln!("warning: {e}; GPU paths skipped");
                        None
                    }
                }
            } else {
                None
            };
            let max = sizes.iter().copied().max().unwrap_or(1 << 20);
            let cpu_copy = paths
                .iter()
                .any(|p| p.starts_with("cpu"))
                .then(|| bench::cpu_copy_bandwidth((max * 16).clamp(64 << 20, 1 << 30), 5));
            // The GPU's copy bandwidth: the better of copy_buffer_to_buffer and a copy kernel.
            let gpu_copies = match &ctx {
                Some(c) => {
                    let bytes = (max as u64 * 16).clamp(64 << 20, 1 << 30);
                    Some((
                        bench::gpu_copy_bandwidth(c, bytes, 20)?,
                        bench::copy_kernel_gb_s(c, bytes, 20)?,
                    ))
                }
                None => None,
            };
            let gpu_copy = gpu_copies.map(|(a, b)| a.max(b));
            if let Some(c) = &ctx {
                println!(
                    "adapter: {} (fma {}; spike words by {})",
                    c.adapter(),
                    c.arith(),
                    c.spike_word_method()
                );
            }
            if let Some(b) = cpu_copy {
                println!(
                    "CPU copy bandwidth: {b:.1} GB/s ({} threads); vectorised kernel: {}",
                    rayon::current_num_threads(),
                    glifsim::cpu::vector_kernel_copy()
                );
            }
            if let (Some((engine, kernel)), Some(c)) = (gpu_copies, &ctx) {
                println!(
                    "GPU copy bandwidth: {:.1} GB/s (copy_buffer_to_buffer {engine:.1}, copy kernel {kernel:.1})",
                    engine.max(kernel)
                );
                for &n in &sizes {
                    let r = bench::reference_kernel_gb_s(c, n.min(256 << 20), 100)?;
                    let r4 = bench::reference_kernel4_gb_s(c, n.min(256 << 20), 100)?;
                    println!("reference kernel y = fma(y, a, x), {n} elements: {r:.1} GB/s ({:.3e} elements/s) with 4-byte accesses, {r4:.1} GB/s ({:.3e} elements/s) with 16-byte (vec4)", r * 1e9 / 12.0, r4 * 1e9 / 12.0);
                }
            }
            for &n in &sizes {
                for &m in &models {
                    let pop = bench::bench_population_with(m, n, per_neuron)?;
                    if let Some(b) = cpu_copy {
                        let cpu_steps = (steps / 10).max(50);
                        if want("cpu") {
                            results.push(bench::bench_cpu(&pop, cpu_steps, b)?);
                        }
                        for (name, noise) in [("cpu-fused", false), ("cpu-fused-noise", true)] {
                            if want(name) {
                                results.push(bench::bench_cpu_run(&pop, cpu_steps, noise, b)?);
                            }
                        }
                    }
                    if let (Some(c), Some(b)) = (&ctx, gpu_copy) {
                        for (name, noise, fused) in [
                            ("gpu", false, false),
                            ("gpu-noise", true, false),
                            ("gpu-fused", false, true),
                            ("gpu-fused-noise", true, true),
                        ] {
                            if want(name) {
                                results.push(bench::bench_gpu(
                                    c, &pop, steps, noise, fused, b, min_time,
                                )?);
                            }
                        }
                    }
                }
            }
            bench::print_table(&results);
            if let (true, Some(c), Some(copy)) = (interactive, &ctx, gpu_copy) {
                let n = interactive_neurons;
                // Both ways of waiting (blocking at once, and polling first), then the
                // context's own setting back.
                let own = c.spin_wait();
                let mut line = String::new();
                for spin in [std::time::Duration::ZERO, DEFAULT_SPIN_WAIT] {
                    c.set_spin_wait(spin);
                    let r = bench::interactive_step(c, n, 200, copy, min_time);
                    c.set_spin_wait(own);
                    let r = r?;
                    let spread = r
                        .spread_us
                        .map(|[lo, hi]| format!(" [{lo:.1}–{hi:.1}]"))
                        .unwrap_or_default();
                    line += &if spin.is_zero() {
                        format!("{:.1} µs{spread} blocking", r.us_per_step)
                    } else {
                        format!(
                            ", {:.1} µs{spread} polling up to {} µs first",
                            r.us_per_step,
                            spin.as_micros()
                        )
                    };
                    results.push(r);
                }
                println!("interactive step (submit, compute, read back the bitmask; on-device drive) at {n} LIF neurons: {line} (medians of 200 [10th–90th percentiles]; this context polls {} µs)", own.as_micros());
            }
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&results).expect("results serialise");
                std::fs::write(&path, text).map_err(|e| glifsim::Error::Io {
                    path: path.clone(),
                    source: e,
                })?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A fresh run of a spec, or the continuation of one from its checkpoint.
enum Job<'a> {
    Fresh(&'a Spec),
    Resume,
}

fn run(job: Job<'_>, opts: RunOptions) -> glifsim::Result<ExitCode> {
    let out = opts.out_dir.clone();
    let stop = opts.stop.clone();
    let _ = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after the current chunk (Ctrl-C again to quit at once)");
    });
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40.cyan/blue} {pos}/{len} steps  {per_sec}  eta {eta}  {msg}",
            )
            .expect("valid template"),
        );
        b
    });
    let started = std::time::Instant::now();
    let mut last_decile = 0;
    let mut progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        } else {
            let decile = done * 10 / total.max(1);
            if decile > last_decile {
                last_decile = decile;
                let secs = started.elapsed().as_secs_f64();
                eprintln!(
                    "glifsim: {done}/{total} steps ({:.0}%), {:.1} s",
                    100.0 * done as f64 / total as f64,
                    secs
                );
            }
        }
    };
    // Whether the run wrote a summary (so that its files are worth pointing to) shows in the
    // summary's modification time; an error found before the first step writes none.
    let summary_stamp = || {
        std::fs::metadata(out.join("summary.json"))
            .and_then(|m| m.modified())
            .ok()
    };
    let stamp_before = summary_stamp();
    let result = match job {
        Job::Fresh(spec) => run_spec(spec, &opts, &mut progress),
        Job::Resume => resume(&opts, &mut progress),
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            let stamp = summary_stamp();
            if stamp.is_some() && stamp != stamp_before {
                eprintln!(
                    "the files in {} hold every completed step (see summary.json)",
                    out.display()
                );
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "{} on {} (fma {}): {} of {} steps in {:.2} s",
        summary.backend,
        summary.adapter,
        summary.arith,
        summary.steps,
        summary.steps_requested,
        summary.wall_time_s
    );
    for p in &summary.populations {
        println!(
            "  {:<10} {:<5} {:>10} neurons × {} trials: {:>10} spikes, {:>7.2} Hz, CV(ISI) {}, {:.3e} neuron-updates/s",
            p.name,
            p.model,
            p.neurons,
            p.trials,
            p.spike_count,
            p.mean_rate_hz,
            p.cv_isi.map_or("-".to_string(), |c| format!("{c:.2}")),
            p.neuron_updates_per_s
        );
    }
    // The raster only where this run drew one (not with --no-plot, nor after no step; a run
    // removes an earlier run's raster when it starts).
    let raster = out.join("raster.png");
    if opts.plot && summary.steps > 0 && raster.exists() {
        println!(
            "wrote {}/summary.json and {}",
            out.display(),
            raster.display()
        );
    } else {
        println!("wrote {}/summary.json", out.display());
    }
    if let Some(why) = &summary.stopped_because {
        eprintln!(
            "stopped early: {why}; the files in {} hold every completed step",
            out.display()
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}
