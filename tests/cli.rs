//! The spec file, the recording and the command line, end to end.

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;

use glifsim::record::{read_npy_u32, NpyStream, Summary};
use glifsim::run::{run_spec, RunOptions};
use glifsim::spec::{read_npy_f64, Spec};
use glifsim::{Backend, Error, Simulator, StepOptions};

fn write_f32(path: &Path, shape: &[usize], data: &[f32]) {
    let mut s = NpyStream::create(path, "<f4", &shape[1..]).unwrap();
    s.append(bytemuck::cast_slice(data), shape[0] as u64)
        .unwrap();
    s.commit().unwrap();
}

const STEPS: usize = 400;
const N_A: usize = 70;
const N_B: usize = 45;

/// Run the `glifsim` binary with `args` and require it to succeed (its output in the
/// message otherwise).
fn glifsim_ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_glifsim"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "glifsim failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A spec with two populations: LIF driven by an NPY host array, ALIF with per-neuron bias
/// from NPY, noise and a schedule; two trials for ALIF.
fn setup(dir: &Path) -> Spec {
    let mut g = common::Rng(77);
    write_f32(
        &dir.join("input.npy"),
        &[STEPS, N_A],
        &g.vec_f32(STEPS * N_A, 0.0, 40.0),
    );
    write_f32(&dir.join("bias.npy"), &[N_B], &g.vec_f32(N_B, 10.0, 20.0));
    let text = format!(
        r#"
dt = 0.25
duration = {}
seed = 9

[[population]]
name = "a"
model = "LIF"
neurons = {N_A}
[population.params]
tau_m = 10.0
t_ref = 1.0
[population.input]
npy = "input.npy"
[population.record]
spikes = [[0, 30], [50, 70]]
v = [0, 3]
every = 7

[[population]]
name = "b"
model = "ALIF"
neurons = {N_B}
trials = 2
[population.params]
theta_inf = -52.0
adapt_tau = [30.0, 200.0]
adapt_increment = [1.0, 0.5]
[population.input]
bias = {{ npy = "bias.npy" }}
noise = {{ mean = 1.0, std = 20.0 }}
schedule = [[25.0, 5.0], [60.0, 0.0]]
[population.record]
theta = [1, 44]
"#,
        STEPS as f64 * 0.25
    );
    let path = dir.join("spec.toml");
    std::fs::write(&path, text).unwrap();
    Spec::load(&path).unwrap()
}

/// Run the spec's populations through the library directly, in one call each.
fn direct(spec: &Spec, backend: Backend) -> Vec<(glifsim::SpikeRecord, glifsim::State<f32>)> {
    let steps = spec.steps();
    spec.prepare()
        .unwrap()
        .into_iter()
        .map(|p| {
            let mut sim = Simulator::new(&p.pop, p.trials, backend).unwrap();
            sim.set_drive(p.drive.clone()).unwrap();
            let mut rec = glifsim::SpikeRecord::new(p.trials, p.pop.len());
            match &p.host_input {
                Some(x) => rec = sim.run(steps, x, StepOptions::default()).unwrap(),
                None => sim
                    .run_driven_with(steps, StepOptions::default(), |_, w| {
                        rec.extend_words(w);
                        Ok(())
                    })
                    .unwrap(),
            }
            (rec, sim.state().unwrap())
        })
        .collect()
}

fn end_to_end(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let spec = setup(tmp.path());
    let out = tmp.path().join("out");
    let mut opts = RunOptions::new(&out);
    opts.backend = backend;
    let summary = run_spec(&spec, &opts, &mut |_, _| {}).unwrap();
    assert!(summary.complete);
    assert_eq!(summary.steps, STEPS as u64);
    assert_eq!(
        summary.backend,
        if backend == Backend::Gpu {
            "gpu"
        } else {
            "cpu"
        }
    );
    let expect = direct(&spec, backend);

    // Population a: spikes of neurons 0..30 and 50..70 only, as (step, trial, neuron).
    let (shape, ev) = read_npy_u32(&out.join("a_spikes.npy")).unwrap();
    assert_eq!(shape[1], 3);
    let want: Vec<u32> = expect[0]
        .0
        .events()
        .into_iter()
        .filter(|&(_, _, n)| n < 30 || (50..70).contains(&n))
        .flat_map(|(t, b, n)| [t, b, n])
        .collect();
    assert!(!want.is_empty());
    assert_eq!(ev, want, "a: recorded spikes differ from the library run");
    // Population b: every spike of both trials.
    let (_, ev) = read_npy_u32(&out.join("b_spikes.npy")).unwrap();
    let want: Vec<u32> = expect[1]
        .0
        .events()
        .into_iter()
        .flat_map(|(t, b, n)| [t, b, n])
        .collect();
    assert_eq!(ev, want, "b: recorded spikes differ from the library run");
    // Counts per step, and the summary's totals.
    let (cshape, counts) = read_npy_u32(&out.join("b_counts.npy")).unwrap();
    assert_eq!(cshape, vec![STEPS as u64]);
    assert_eq!(
        counts.iter().map(|&c| c as u64).sum::<u64>(),
        expect[1].0.count()
    );
    assert_eq!(summary.populations[1].spike_count, expect[1].0.count());
    let rate = expect[1].0.count() as f64 / (2.0 * N_B as f64 * STEPS as f64 * 0.25e-3);
    assert!((summary.populations[1].mean_rate_hz - rate).abs() < 1e-9);
    // Traces: V of neurons 0 and 3 every 7 steps, the last one equal to the direct run's state
    // when the run ends on a sample.
    let (vshape, v) = read_npy_f64(&out.join("a_v.npy")).unwrap();
    let samples = STEPS / 7 + 1;
    assert_eq!(vshape, vec![samples as u64, 1, 2]);
    let (_, tsteps) = read_npy_u32_u64(&out.join("a_trace_steps.npy"));
    assert_eq!(tsteps.len(), samples);
    assert_eq!(tsteps[1], 7);
    assert_eq!(v[0] as f32, -65.0);
    // θ of neurons 1 and 44 in both trials, K = 2, sampled every step; last sample = final state.
    let (tshape, th) = read_npy_f64(&out.join("b_theta.npy")).unwrap();
    assert_eq!(tshape, vec![STEPS as u64 + 1, 2, 2, 2]);
    let last = &th[th.len() - 8..];
    let st = &expect[1].1;
    let want_last: Vec<f64> = [(0, 1), (0, 44), (1, 1), (1, 44)]
        .iter()
        .flat_map(|&(b, i)| (0..2).map(move |k| (b, i, k)))
        .map(|(b, i, k)| st.theta[(b * N_B + i) * 2 + k] as f64)
        .collect();
    assert_eq!(last, want_last.as_slice());
    // The picture exists and has the documented size.
    let png = std::fs::read(out.join("raster.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((w, h), glifsim::plot::SIZE);
    // `plot` redraws it from the files alone.
    std::fs::remove_file(out.join("raster.png")).unwrap();
    glifsim::plot::plot_dir(&out).unwrap();
    assert!(out.join("raster.png").exists());
}

fn read_npy_u32_u64(path: &Path) -> (Vec<u64>, Vec<u64>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<u64>().unwrap())
}

#[test]
fn run_end_to_end_cpu() {
    end_to_end(Backend::Cpu);
}

#[test]
fn run_end_to_end_gpu() {
    if common::gpu().is_none() {
        return;
    }
    end_to_end(Backend::Gpu);
}

#[test]
fn interrupted_run_keeps_completed_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = setup(tmp.path());
    let out = tmp.path().join("out");
    let mut opts = RunOptions::new(&out);
    opts.backend = Backend::Cpu;
    let stop = opts.stop.clone();
    // Stop as soon as 200 steps are done (the run goes in chunks of 7 steps here).
    let summary = run_spec(&spec, &opts, &mut |done, _| {
        if done >= 200 {
            stop.store(true, Ordering::SeqCst);
        }
    })
    .unwrap();
    assert!(!summary.complete);
    let done = summary.steps as usize;
    assert!((200..207).contains(&done), "stopped at {done}");
    assert!(summary
        .stopped_because
        .as_deref()
        .unwrap()
        .contains("interrupted"));
    let on_disk = Summary::read(&out).unwrap();
    assert_eq!(on_disk.steps, summary.steps);
    // Every file opens and holds exactly the completed steps.
    let (cshape, _) = read_npy_u32(&out.join("a_counts.npy")).unwrap();
    assert_eq!(cshape, vec![done as u64]);
    let (_, ev) = read_npy_u32(&out.join("b_spikes.npy")).unwrap();
    let full = direct(&spec, Backend::Cpu);
    let want: Vec<u32> = full[1]
        .0
        .events()
        .into_iter()
        .filter(|&(t, _, _)| (t as usize) < done)
        .flat_map(|(t, b, n)| [t, b, n])
        .collect();
    assert_eq!(ev, want);
    assert!(out.join("raster.png").exists());
}

#[test]
fn interrupted_mid_chunk_file_still_opens() {
    // A writer that dies between appending data and committing leaves a file whose header
    // still describes only the committed rows.
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("x.npy");
    let mut s = NpyStream::create(&p, "<u4", &[3]).unwrap();
    s.append(bytemuck::cast_slice(&[1u32, 2, 3]), 1).unwrap();
    s.commit().unwrap();
    s.append(bytemuck::cast_slice(&[4u32, 5, 6]), 1).unwrap();
    std::mem::forget(s); // no commit, no flush: as if the process had died
    let (shape, data) = read_npy_u32(&p).unwrap();
    assert_eq!(shape, vec![1, 3]);
    assert_eq!(data, vec![1, 2, 3]);
}

fn parse_err(text: &str) -> String {
    match Spec::parse(text, Path::new("bad.toml")).and_then(|s| s.prepare().map(|_| ())) {
        Ok(()) => panic!("accepted:\n{text}"),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("bad.toml"),
                "message does not name the file: {msg}"
            );
            msg
        }
    }
}

const GOOD: &str =
    "dt = 0.1\nduration = 10.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 4\n";

#[test]
fn spec_parses_every_field() {
    let s = Spec::parse(GOOD, Path::new("good.toml")).unwrap();
    assert_eq!(s.steps(), 100);
    let p = &s.prepare().unwrap()[0];
    assert_eq!(p.pop.len(), 4);
    assert_eq!(p.spike_ranges, vec![(0, 4)]);
    let text = format!("{GOOD}[population.params]\ntau_m = [10.0, 11.0, 12.0, 13.0]\nv_th = -45.0\n[population.input]\nbias = 3.0\nschedule = [[1.0, 2.0]]\n[population.record]\nspikes = \"none\"\nv = [3]\nevery = 5\n");
    let p = &Spec::parse(&text, Path::new("good.toml"))
        .unwrap()
        .prepare()
        .unwrap()[0];
    assert_eq!(p.pop.tau_m().at(2), 12.0);
    assert_eq!(p.pop.threshold().at(0), -45.0);
    assert_eq!(p.drive.schedule, vec![(10, 2.0)]);
    assert!(p.spike_ranges.is_empty());
    assert_eq!((p.v.clone(), p.every), (vec![3], 5));
}

#[test]
fn spec_errors_name_the_field_and_line() {
    // TOML syntax: file, line and column.
    let m = parse_err("dt = 0.1\nduration = = 3\n");
    assert!(m.contains("line 2"), "{m}");
    // Unknown field (a typo).
    let m = parse_err(&format!("{GOOD}[population.params]\ntau_n = 3.0\n"));
    assert!(m.contains("tau_n") && m.contains("line 8"), "{m}");
    // Wrong type.
    let m = parse_err("dt = \"fast\"\nduration = 1.0\n");
    assert!(m.contains("dt") || m.contains("line 1"), "{m}");
    // Missing required field.
    let m =
        parse_err("duration = 1.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 4\n");
    assert!(m.contains("dt"), "{m}");
    // Unknown model.
    let m = parse_err(&GOOD.replace("LIF", "HH"));
    assert!(m.contains("HH") && m.contains("GLIF2"), "{m}");
    // Invalid parameter value: names population and parameter.
    let m = parse_err(&format!("{GOOD}[population.params]\ntau_m = -1.0\n"));
    assert!(
        m.contains("'p'") && m.contains("tau_m") && m.contains("-1"),
        "{m}"
    );
    // Per-neuron list of the wrong length.
    let m = parse_err(&format!("{GOOD}[population.params]\ntau_m = [1.0, 2.0]\n"));
    assert!(m.contains("tau_m") && m.contains("expected 4"), "{m}");
    // Missing NPY file names the path.
    let m = parse_err(&format!(
        "{GOOD}[population.input]\nnpy = \"nowhere.npy\"\n"
    ));
    assert!(m.contains("nowhere.npy"), "{m}");
    // Record ranges and neurons out of bounds, θ on LIF, duplicate names, bad dt.
    assert!(
        parse_err(&format!("{GOOD}[population.record]\nspikes = [[0, 9]]\n")).contains("[0, 9)")
    );
    assert!(parse_err(&format!("{GOOD}[population.record]\nv = [4]\n")).contains("neuron 4"));
    assert!(
        parse_err(&format!("{GOOD}[population.record]\ntheta = [0]\n")).contains("no threshold")
    );
    assert!(parse_err(&format!(
        "{GOOD}[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 1\n"
    ))
    .contains("twice"));
    assert!(parse_err(&GOOD.replace("dt = 0.1", "dt = -0.1")).contains("dt"));
    assert!(parse_err(&format!(
        "{GOOD}[population.input]\nnoise = {{ std = -1.0 }}\n"
    ))
    .contains("std"));
}

#[test]
fn malformed_npy_files_are_refused_with_their_path() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.npy");
    std::fs::write(&bad, b"\x93NUMPY garbage").unwrap();
    let e = read_npy_f64(&bad).unwrap_err();
    assert!(
        matches!(e, Error::Format { .. }) && e.to_string().contains("bad.npy"),
        "{e}"
    );
    // Truncated data.
    write_f32(&tmp.path().join("t.npy"), &[10], &[1.0; 10]);
    let bytes = std::fs::read(tmp.path().join("t.npy")).unwrap();
    std::fs::write(tmp.path().join("t.npy"), &bytes[..bytes.len() - 8]).unwrap();
    assert!(read_npy_f64(&tmp.path().join("t.npy")).is_err());
    // Wrong shape for a host input.
    write_f32(&tmp.path().join("in.npy"), &[5, 3], &[1.0; 15]);
    std::fs::write(
        tmp.path().join("s.toml"),
        format!("{GOOD}[population.input]\nnpy = \"in.npy\"\n"),
    )
    .unwrap();
    let e = Spec::load(tmp.path().join("s.toml"))
        .unwrap()
        .prepare()
        .unwrap_err();
    assert!(
        e.to_string().contains("in.npy") && e.to_string().contains("T ≥ 100"),
        "{e}"
    );
}

#[test]
fn binary_reports_a_bad_spec_and_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("bad.toml");
    std::fs::write(&p, format!("{GOOD}[population.params]\ntau_m = 0.0\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_glifsim"))
        .args(["run", p.to_str().unwrap(), "--backend", "cpu", "--out"])
        .arg(tmp.path().join("o"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("tau_m"), "{err}");
    // Refused before the first step: no files, and no word of files holding completed steps.
    assert!(!err.contains("completed step"), "{err}");
    assert!(!tmp.path().join("o").exists());
}

#[test]
fn binary_refuses_bad_values_with_a_message_and_no_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let demo_out = tmp.path().join("demo");
    let d = demo_out.to_str().unwrap();
    let cases: [(&[&str], &str); 7] = [
        (
            &["bench", "--paths", "cpu,foo"],
            "invalid value 'foo' for '--paths",
        ),
        (
            &["bench", "--sizes", "1000,0"],
            "'0' is not a whole number of at least 1",
        ),
        (
            &["bench", "--steps", "0"],
            "'0' is not a whole number of at least 1",
        ),
        (
            &["bench", "--interactive-neurons", "0"],
            "--interactive-neurons",
        ),
        (
            &["demo", "--neurons=-3"],
            "'-3' is not a whole number of at least 1",
        ),
        (
            &["demo", "--neurons", "0", "--out", d],
            "'0' is not a whole number of at least 1",
        ),
        (
            &["demo", "--backend", "cpu", "--duration", "0", "--out", d],
            "the demo's duration must be a positive number of ms",
        ),
    ];
    for (args, want) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_glifsim"))
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!demo_out.exists(), "{args:?} wrote {d}");
    }
}

#[test]
fn binary_runs_a_spec_on_the_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("ok.toml");
    std::fs::write(&p, format!("{GOOD}[population.input]\nbias = 100.0\n")).unwrap();
    let o = tmp.path().join("o");
    let (spec, dir) = (p.to_str().unwrap(), o.to_str().unwrap());
    let run = |more: &[&str]| {
        let args = [&["run", spec, "--backend", "cpu", "--out", dir][..], more].concat();
        String::from_utf8_lossy(&glifsim_ok(&args).stdout).to_string()
    };
    let text = run(&[]);
    let s = Summary::read(&o).unwrap();
    assert!(s.populations[0].spike_count > 0);
    assert!(text.contains("spikes"));
    assert!(
        text.contains("raster.png") && o.join("raster.png").exists(),
        "{text}"
    );
    // Again into the same directory without the picture: the earlier run's raster is gone
    // and none is announced.
    let text = run(&["--no-plot"]);
    assert!(text.contains("summary.json"), "{text}");
    assert!(
        !text.contains("raster.png") && !o.join("raster.png").exists(),
        "{text}"
    );
}

#[test]
fn glif5_spec_runs_and_records_currents() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "dt = 0.1\nduration = 50.0\n[[population]]\nname = \"g5\"\nmodel = \"GLIF5\"\nneurons = 20\n\
        [population.params]\ntheta_inf = -50.0\nm_v = 0.5\nb_v = 3.0\nadapt_rate = [0.05]\nadapt_increment = [1.0]\n\
        asc_rate = [0.01, 0.2]\nasc_amp = [-0.5, 1.0]\ntheta_v_a = 0.005\ntheta_v_b = 0.1\n\
        [population.input]\nbias = 25.0\n[population.record]\nasc = [0, 19]\ntheta = [3]\nevery = 500\n";
    let p = tmp.path().join("g5.toml");
    std::fs::write(&p, text).unwrap();
    let spec = Spec::load(&p).unwrap();
    let out = tmp.path().join("o");
    let mut opts = RunOptions::new(&out);
    opts.backend = Backend::Cpu;
    let s = run_spec(&spec, &opts, &mut |_, _| {}).unwrap();
    assert!(s.populations[0].spike_count > 0);
    let (shape, asc) = read_npy_f64(&out.join("g5_asc.npy")).unwrap();
    assert_eq!(shape, vec![2, 1, 2, 2]); // samples at steps 0 and 500; trial; neurons; J
    let expect = direct(&spec, Backend::Cpu);
    let st = &expect[0].1;
    let want: Vec<f64> = [0usize, 19]
        .iter()
        .flat_map(|&i| st.asc[i * 2..i * 2 + 2].iter().map(|&x| x as f64))
        .collect();
    assert_eq!(&asc[4..], want.as_slice());
    let (tshape, _) = read_npy_f64(&out.join("g5_theta.npy")).unwrap();
    assert_eq!(tshape, vec![2, 1, 1, 2]); // θ_1 and θ_v
                                          // Missing halves of a pair are named.
    let bad = text.replace("asc_amp = [-0.5, 1.0]\n", "");
    assert!(Spec::parse(&bad, Path::new("b.toml"))
        .unwrap()
        .prepare()
        .unwrap_err()
        .to_string()
        .contains("asc_amp"));
}

#[test]
fn fuzz_regression_nested_npy_header_is_refused_quickly() {
    // Found by `cargo fuzz run npy_reader`: nested brackets in the header took the header
    // parser over ten seconds.
    // The fuzzer's input, byte for byte (fuzz/artifacts/npy_reader/timeout-1c508fa3…).
    let data: Vec<u8> = vec![
        147, 78, 85, 77, 80, 89, 1, 0, 118, 0, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
        32, 32, 32, 32, 32, 32, 32, 32, 32, 40, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
        32, 32, 32, 32, 32, 32, 32, 91, 32, 32, 32, 32, 32, 123, 123, 123, 123, 123, 123, 123, 123,
        123, 123, 123, 123, 123, 123, 123, 123, 123, 123, 123, 123, 123, 123, 123, 123, 123, 123,
        123, 123, 123, 123, 58, 0, 0, 0, 0, 0, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
        32, 32, 32, 32, 40, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
        32, 32, 91, 32, 32, 32, 32, 32, 58, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 32,
        192, 64,
    ];
    let t = std::time::Instant::now();
    let e = glifsim::spec::parse_npy_f64(&data, Path::new("slow.npy")).unwrap_err();
    assert!(t.elapsed().as_secs_f64() < 0.5, "took {:?}", t.elapsed());
    assert!(e.to_string().contains("slow.npy"), "{e}");
    // Ordinary files still read.
    let tmp = tempfile::tempdir().unwrap();
    write_f32(
        &tmp.path().join("ok.npy"),
        &[2, 3],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    );
    let (shape, v) = read_npy_f64(&tmp.path().join("ok.npy")).unwrap();
    assert_eq!((shape, v), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
}

/// `glifsim bench` on a small population: one JSON record per model and path asked for (GPU
/// paths where an adapter exists), each consistent with itself (updates/s against µs per
/// step, bandwidth against bytes per update, the fraction against the copy, how many runs were
/// timed), the table on standard output, and the interactive step in both ways of waiting.
#[test]
fn binary_bench_prints_a_table_and_writes_consistent_json() {
    let gpu = common::gpu().is_some();
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("bench.json");
    let n = 5000;
    let out = glifsim_ok(&[
        "bench",
        "--models",
        "LIF,GLIF5",
        "--sizes",
        &n.to_string(),
        "--paths",
        "cpu,cpu-fused-noise,gpu,gpu-fused-noise",
        "--steps",
        "40",
        "--interactive",
        "--interactive-neurons",
        "64",
        "--min-time",
        "0.3",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let mut rows = v.as_array().unwrap().clone();
    // The interactive step's two records come last (64 neurons, one step each).
    if gpu {
        let inter = rows.split_off(rows.len() - 2);
        for (r, path) in inter
            .iter()
            .zip(["gpu-interactive", "gpu-interactive-poll"])
        {
            assert_eq!(
                (&r["model"], &r["path"], &r["neurons"]),
                (&"LIF".into(), &path.into(), &64.into()),
                "{r}"
            );
            let us = r["us_per_step"].as_f64().unwrap();
            assert!(
                us > 0.0 && stdout.contains(&format!("{us:.1} µs")),
                "{r}\n{stdout}"
            );
            assert_eq!(r["timed_runs"], 200, "the median of 200 steps: {r}");
            // The 10th and 90th percentiles around the median, in the JSON and printed.
            let spread = r["spread_us"].as_array().expect("spread_us");
            let (lo, hi) = (spread[0].as_f64().unwrap(), spread[1].as_f64().unwrap());
            assert!(lo <= us && us <= hi, "percentiles around the median: {r}");
            assert!(
                stdout.contains(&format!("{us:.1} µs [{lo:.1}–{hi:.1}]")),
                "{r}\n{stdout}"
            );
        }
    }
    assert!(
        rows.iter().all(|r| r.get("spread_us").is_none()),
        "only the interactive step has a spread"
    );
    let mut want = vec![];
    for m in ["LIF", "GLIF5"] {
        for p in ["cpu", "cpu-fused-noise"] {
            want.push((m, p.to_string()));
        }
        if gpu {
            for p in ["gpu-step", "gpu-fused-noise"] {
                want.push((m, p.to_string()));
            }
        }
    }
    let got: Vec<(&str, String)> = rows
        .iter()
        .map(|r| {
            (
                r["model"].as_str().unwrap(),
                r["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want, "{stdout}");
    // Which kernel ran: the wide one on the GPU (N = 5000 is a multiple of 4, and both models
    // have at most one θ component and two currents), the CPU path's own on the CPU.
    for r in &rows {
        let want = if r["path"].as_str().unwrap().starts_with("cpu") {
            "cpu"
        } else {
            "wide"
        };
        assert_eq!(r["kernel"], want, "{r}");
    }
    if gpu {
        assert!(
            stdout.contains("with 16-byte (vec4)"),
            "no vec4 reference kernel line:\n{stdout}"
        );
    }
    let f = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k}: {r}"));
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs());
    for r in &rows {
        assert_eq!(r["neurons"], n, "{r}");
        // The CPU paths keep the fastest of five runs; a GPU path repeats its run for
        // --min-time (0.3 s here, where one 40-step run at 5,000 neurons takes milliseconds
        // even on lavapipe), at most 100 times.
        let runs = r["timed_runs"].as_u64().unwrap();
        if r["path"].as_str().unwrap().starts_with("cpu") {
            assert_eq!(runs, 5, "{r}");
            assert!(
                r.get("variant").is_none(),
                "a CPU row with a kernel variant: {r}"
            );
        } else {
            assert!((2..=100).contains(&runs), "{r}");
            // How the kernels were built, e.g. "wide (ballot, immediates, int64)".
            let v = r["variant"]
                .as_str()
                .unwrap_or_else(|| panic!("no variant: {r}"));
            assert!(
                v.starts_with(r["kernel"].as_str().unwrap())
                    && (v.contains("(ballot, ") || v.contains("(atomics, "))
                    && (v.contains(", immediates, ") || v.contains(", uniform, ")),
                "{r}"
            );
        }
        let ups = f(r, "updates_per_s");
        assert!(ups.is_finite() && ups > 0.0, "{r}");
        assert!(
            close(ups * f(r, "us_per_step") * 1e-6, n as f64),
            "updates/s × s/step = neurons: {r}"
        );
        assert!(
            close(
                ups * f(r, "seconds"),
                (n * r["steps"].as_u64().unwrap() as usize) as f64
            ),
            "updates/s × seconds = updates: {r}"
        );
        // Bandwidth and fraction from GPU time where there is one, else from wall time.
        let best = r["gpu_updates_per_s"].as_f64().unwrap_or(ups);
        assert!(
            close(
                f(r, "effective_gb_s"),
                best * f(r, "bytes_per_update") / 1e9
            ),
            "{r}"
        );
        assert!(
            close(
                f(r, "fraction_of_copy"),
                f(r, "effective_gb_s") / f(r, "copy_gb_s")
            ),
            "{r}"
        );
        assert!(
            f(r, "bytes_per_update") > 0.0 && f(r, "copy_gb_s") > 0.0,
            "{r}"
        );
        let line = stdout
            .lines()
            .find(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() > 2 && w[0] == r["model"] && w[1] == r["path"]
            })
            .unwrap_or_else(|| panic!("no table row for {r}:\n{stdout}"));
        assert!(line.contains(&n.to_string()), "{line}");
    }
    assert_eq!(
        stdout.contains("interactive step")
            && stdout.contains("blocking")
            && stdout.contains("polling"),
        gpu,
        "{stdout}"
    );
}

/// `glifsim bench --per-neuron`: every parameter of the benchmark population has one value
/// per neuron (LIF: V_rest, V_reset, V_th, t_ref, R, e_m; GLIF5 also m_v, b_v, θ_1's two
/// and the currents' and θ_v's coefficients, but not r_1 = 1, which the builder defaults),
/// the JSON says how many, and each is counted as 4 bytes read once per dispatch.
#[test]
fn binary_bench_with_per_neuron_parameters_counts_their_bytes() {
    let gpu = common::gpu().is_some();
    let tmp = tempfile::tempdir().unwrap();
    let paths = if gpu {
        "cpu,cpu-fused,gpu,gpu-fused"
    } else {
        "cpu,cpu-fused"
    };
    let run = |per_neuron: bool| -> Vec<serde_json::Value> {
        let json = tmp.path().join(format!("bench-{per_neuron}.json"));
        let mut args = vec![
            "bench",
            "--models",
            "LIF,GLIF5",
            "--sizes",
            "2000",
            "--paths",
            paths,
            "--steps",
            "100",
            "--json",
        ];
        args.push(json.to_str().unwrap());
        if per_neuron {
            args.push("--per-neuron");
        }
        glifsim_ok(&args);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        v.as_array().unwrap().clone()
    };
    let (shared, per) = (run(false), run(true));
    assert_eq!(shared.len(), per.len());
    assert_eq!(per.len(), if gpu { 8 } else { 4 });
    for (s, p) in shared.iter().zip(&per) {
        assert_eq!((&s["model"], &s["path"]), (&p["model"], &p["path"]));
        assert_eq!(s["per_neuron_params"], 0, "{s}");
        let count = match p["model"].as_str().unwrap() {
            "LIF" => 6,
            _ => 22,
        };
        assert_eq!(p["per_neuron_params"], count, "{p}");
        // One dispatch per step, or 100 steps per dispatch (the fused paths).
        let steps_per_dispatch = if p["path"].as_str().unwrap().contains("fused") {
            100.0
        } else {
            1.0
        };
        let extra =
            p["bytes_per_update"].as_f64().unwrap() - s["bytes_per_update"].as_f64().unwrap();
        assert!(
            (extra - 4.0 * count as f64 / steps_per_dispatch).abs() < 1e-9,
            "{extra} extra bytes per update: {p}"
        );
        assert!(p["updates_per_s"].as_f64().unwrap() > 0.0, "{p}");
    }
}

/// `bench --min-time` takes a non-negative number of seconds and says so otherwise, before it
/// measures anything.
#[test]
fn binary_rejects_a_bad_min_time() {
    for bad in ["-1", "soon", "NaN"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_glifsim"))
            .args(["bench", "--paths", "cpu", "--sizes", "1000"])
            .arg(format!("--min-time={bad}"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "--min-time {bad} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("'{bad}' is not a non-negative number of seconds")),
            "{err}"
        );
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// A malformed `GLIFSIM_SPIN_US` or `GLIFSIM_MAX_BINDING` is named in the message that says
/// why the GPU is not used; one too small says how small it may be.
#[test]
fn binary_names_a_bad_gpu_setting() {
    if common::gpu().is_none() {
        return;
    }
    for (var, value, says) in [
        (
            "GLIFSIM_SPIN_US",
            "soon",
            "GLIFSIM_SPIN_US must be a whole number of microseconds, not 'soon'",
        ),
        (
            "GLIFSIM_MAX_BINDING",
            "1GB",
            "GLIFSIM_MAX_BINDING must be a whole number of bytes, not '1GB'",
        ),
        ("GLIFSIM_MAX_BINDING", "1024", "at least 262144, not 1024"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_glifsim"))
            .args([
                "bench", "--paths", "gpu", "--sizes", "1000", "--steps", "10",
            ])
            .env(var, value)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{var}={value}: {err}");
    }
}

/// The host's available memory (`MemAvailable`), where Linux says.
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// A run whose parts each fit in host memory but whose sum does not is refused before its first
/// step, with the parts named, instead of being killed for want of memory once its pages are
/// touched. The population (LIF with noise, one trial) is sized from this host's
/// `MemAvailable`: on the CPU path its state and noise blocks hold 24 bytes per neuron and the
/// recorder's interval statistics 32, so `avail / 40` neurons need 0.6 and 0.8 of what is
/// available, 1.4 together. On a CPU driver the GPU path's device memory comes from the host
/// too, about 10 bytes per neuron at this size (its spike rows shrink with the chunk), so
/// `avail / 36` neurons; the test checks that each part alone fits.
#[test]
fn a_run_larger_than_host_memory_in_sum_is_refused_before_it_starts() {
    let Some(avail) = mem_available() else {
        eprintln!("SKIPPED: no /proc/meminfo MemAvailable on this host");
        return;
    };
    let spec_of = |n: u64, dir: &Path| {
        let text = format!(
            "dt = 0.1\nduration = 1.0\n[[population]]\nname = \"big\"\nmodel = \"LIF\"\nneurons = {n}\n[population.input]\nnoise = {{ mean = 0.0, std = 1.0 }}\n[population.record]\nspikes = \"none\"\n"
        );
        Spec::parse(&text, &dir.join("big.toml")).unwrap()
    };
    let mut cases = vec![(Backend::Cpu, avail / 40, "CPU path's state")];
    if let Some(ctx) = common::gpu() {
        if ctx.adapter().is_cpu() {
            let n = avail / 36;
            let p = &spec_of(n, Path::new(".")).prepare().unwrap()[0];
            let opts = glifsim::gpu::GpuOptions {
                host_inputs: false,
                ..Default::default()
            };
            let device =
                glifsim::gpu::GpuSim::memory_needed(&ctx, &p.pop, 1, &p.drive, &opts).unwrap();
            let recorder = glifsim::record::PopulationRecorder::memory_needed(1, n as usize);
            assert!(
                device < avail && recorder < avail,
                "{device} + {recorder} vs {avail}"
            );
            assert!(
                device + recorder > avail,
                "{device} + {recorder} vs {avail}"
            );
            cases.push((Backend::Gpu, n, "takes from the host"));
        } else {
            eprintln!(
                "'{}' is not a CPU driver: the GPU case of this test serves CPU drivers",
                ctx.adapter().name
            );
        }
    }
    for (backend, n, part) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let spec = spec_of(n, tmp.path());
        let mut opts = RunOptions::new(tmp.path().join("o"));
        opts.backend = backend;
        opts.plot = false;
        // A dry run says so first, with the run's own message.
        let plan = glifsim::run::dry_run(&spec, backend).unwrap();
        match run_spec(&spec, &opts, &mut |_, _| {}) {
            Err(e @ Error::TooLarge { .. }) => {
                let Error::TooLarge {
                    needed,
                    available: Some(a),
                    what,
                } = &e
                else {
                    panic!("{backend:?}: {e}")
                };
                assert!(needed > a, "{backend:?}: {needed} vs {a}");
                assert!(what.contains("interspike-interval"), "{backend:?}: {what}");
                assert!(what.contains(part), "{backend:?}: {what}");
                let refused = plan.refused.as_deref().unwrap_or("(would start)");
                // (The available memory in the message may have moved between the two.)
                assert!(
                    refused
                        .split(": ")
                        .take(3)
                        .eq(e.to_string().split(": ").take(3)),
                    "{backend:?}: the dry run says '{refused}', the run '{e}'"
                );
            }
            other => panic!(
                "{backend:?}, {n} neurons: expected TooLarge, got {:?}",
                other.map(|s| s.steps)
            ),
        }
        // Nothing ran: no summary.
        assert!(Summary::read(&tmp.path().join("o")).is_err());
    }
}

/// `glifsim run --dry-run` checks the spec and prints each population's memory and whether
/// the run would start, writing nothing: the sizes are the simulators' and the recorder's own
/// estimates, a run that fits exits 0, one too large for the host 1 with the run's message,
/// and a bad spec fails as a run would.
#[test]
fn dry_run_prints_the_memory_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let spec_of = |n: u64, trials: u64| {
        let p = tmp.path().join(format!("s{n}.toml"));
        std::fs::write(
            &p,
            format!("dt = 0.1\nduration = 2.0\n[[population]]\nname = \"exc\"\nmodel = \"ALIF\"\nneurons = {n}\ntrials = {trials}\n[population.params]\nadapt_tau = [100.0]\nadapt_increment = [1.0]\n[population.input]\nbias = 14.0\nnoise = {{ mean = 0.0, std = 5.0 }}\n"),
        )
        .unwrap();
        p
    };
    let small = spec_of(1000, 2);
    let spec = Spec::load(&small).unwrap();
    let plan = glifsim::run::dry_run(&spec, Backend::Cpu).unwrap();
    let pop = &spec.prepare().unwrap()[0].pop;
    let m = &plan.populations[0];
    assert_eq!((plan.backend.as_str(), plan.steps), ("cpu", 20));
    assert_eq!(
        (m.neurons, m.trials, m.device_bytes, m.shards),
        (1000, 2, 0, 0)
    );
    assert_eq!(m.recorder_bytes, 32 * 2000);
    assert_eq!(
        m.host_sim_bytes,
        glifsim::CpuSim::<f32>::memory_needed(pop, 2, true)
    );
    assert!(plan.refused.is_none());
    // On a GPU: the device memory and shards the simulator will have.
    if let Some(ctx) = common::gpu() {
        let g = glifsim::run::dry_run(&spec, Backend::Gpu).unwrap();
        let p = &spec.prepare().unwrap()[0];
        let sim = glifsim::gpu::GpuSim::with_drive(
            ctx,
            &p.pop,
            2,
            &p.drive,
            &glifsim::gpu::GpuOptions {
                host_inputs: false,
                ..Default::default()
            },
        )
        .unwrap();
        let m = &g.populations[0];
        assert_eq!(g.backend, "gpu");
        assert_eq!(m.shards, sim.shard_count());
        let d = sim.device_memory().total();
        assert!(
            m.device_bytes <= d && d <= m.device_bytes + 65_536,
            "{m:?} vs {d}"
        );
    }
    let out = tmp.path().join("o");
    let args = |spec: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_glifsim"))
            .args([
                "run",
                spec.to_str().unwrap(),
                "--dry-run",
                "--backend",
                "cpu",
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap()
    };
    let o = args(&small);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("1000 × 2") && text.contains("the run would start"),
        "{text}"
    );
    // 4·10⁹ neurons × 8 trials: a terabyte of interval statistics alone.
    let o = args(&spec_of(4_000_000_000, 8));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    if mem_available().is_some() {
        assert_eq!(o.status.code(), Some(1), "{text}");
        assert!(
            text.contains("would be refused") && text.contains("interspike-interval"),
            "{text}"
        );
    }
    assert!(!out.exists(), "a dry run wrote {}", out.display());
    // A host input is counted, not read: its header says 10 steps × 10⁹ neurons of float32 (a
    // sparse file of 40 GB), which a run refuses before allocating it, and a dry run counts.
    let huge = tmp.path().join("huge.npy");
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 1000000000), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&118u16.to_le_bytes());
    bytes.extend_from_slice(format!("{header:<117}\n").as_bytes());
    std::fs::write(&huge, &bytes).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&huge)
        .unwrap()
        .set_len(128 + 40_000_000_000)
        .unwrap();
    let spec_path = tmp.path().join("huge.toml");
    std::fs::write(
        &spec_path,
        "dt = 0.1\nduration = 1.0\n[[population]]\nname = \"big\"\nmodel = \"LIF\"\nneurons = 1000000000\n[population.input]\nnpy = \"huge.npy\"\n[population.record]\ncv_isi = false\n",
    )
    .unwrap();
    let spec = Spec::load(&spec_path).unwrap();
    let plan = glifsim::run::dry_run(&spec, Backend::Cpu).unwrap();
    assert_eq!(plan.populations[0].host_input_bytes, 40_000_000_000);
    if mem_available().is_some_and(|a| a < 40_000_000_000) {
        let why = plan.refused.unwrap_or_default();
        assert!(why.contains("host inputs"), "{why}");
        let e = spec.prepare().unwrap_err().to_string();
        assert!(e.contains("host input") && e.contains("huge.npy"), "{e}");
    }
    // A bad spec is an error, as for a run.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "dt = 0.1\nduration = 2.0\n[[population]]\nname = \"x\"\nmodel = \"LIF\"\nneurons = 0\n",
    )
    .unwrap();
    let o = args(&bad);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.toml"));
}

/// A run without traces or checkpoints advances in segments that grow while they are quick
/// (100, 200, 400, … steps here: a small population); its files still hold exactly the spikes
/// of one uninterrupted simulation, and progress is reported at each segment's end, ever
/// further apart.
#[test]
fn growing_segments_record_what_one_simulation_gives() {
    let mut backends = vec![Backend::Cpu];
    if common::gpu().is_some() {
        backends.push(Backend::Gpu);
    }
    for backend in backends {
        let tmp = tempfile::tempdir().unwrap();
        let text = "dt = 0.1\nduration = 500.0\nseed = 4\n[[population]]\nname = \"p\"\nmodel = \"ALIF\"\nneurons = 300\ntrials = 2\n[population.params]\ntheta_inf = -52.0\nadapt_tau = [50.0]\nadapt_increment = [1.0]\n[population.input]\nbias = 12.0\nnoise = { mean = 0.0, std = 35.0 }\n";
        let spec = Spec::parse(text, &tmp.path().join("g.toml")).unwrap();
        assert_eq!(spec.steps(), 5_000);
        let out = tmp.path().join("out");
        let mut opts = RunOptions::new(&out);
        opts.backend = backend;
        opts.plot = false;
        let mut reports = Vec::new();
        let s = run_spec(&spec, &opts, &mut |done, _| reports.push(done)).unwrap();
        assert!(s.complete);
        // Segments of 100, then longer ones (this population steps far faster than 25 ms
        // per 100 steps on any path).
        assert_eq!(reports[0], 100, "{backend:?}: {reports:?}");
        assert!(reports.len() < 50, "{backend:?}: {reports:?}");
        assert_eq!(*reports.last().unwrap(), 5_000);
        let (_, ev) = read_npy_u32(&out.join("p_spikes.npy")).unwrap();
        let want: Vec<u32> = direct(&spec, backend)[0]
            .0
            .events()
            .into_iter()
            .flat_map(|(t, b, n)| [t, b, n])
            .collect();
        assert!(!want.is_empty());
        assert!(ev == want, "{backend:?}: the spikes file differs");
        let (cshape, _) = read_npy_u32(&out.join("p_counts.npy")).unwrap();
        assert_eq!(cshape, vec![5_000]);
    }
}

/// `glifsim run` on the GPU records the same files whether its traces are copied on the device
/// within the run (the default) or the run is cut at every sample and read with `state_of`
/// (`GLIFSIM_HOST_SAMPLES=1`): V, θ and the after-spike currents of GLIF5 neurons in two
/// trials, every 3 steps, with noise.
#[test]
fn binary_traces_on_the_device_equal_traces_read_by_the_host() {
    let Some(_ctx) = common::gpu() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("t.toml");
    std::fs::write(
        &p,
        "dt = 0.1\nduration = 30.0\nseed = 9\n[[population]]\nname = \"g\"\nmodel = \"GLIF5\"\nneurons = 500\ntrials = 2\n[population.params]\ntheta_inf = -52.0\nm_v = 0.4\nb_v = 2.0\nadapt_rate = [0.02]\nadapt_increment = [1.0]\nasc_rate = [0.02, 0.3]\nasc_amp = [-0.3, 0.5]\ntheta_v_a = 0.004\ntheta_v_b = 0.1\n[population.input]\nbias = 14.0\nnoise = { mean = 0.0, std = 25.0 }\n[population.record]\nv = [499, 0, 250]\ntheta = [7]\nasc = [3, 400]\nevery = 3\n",
    )
    .unwrap();
    let mut files = Vec::new();
    for host in [false, true] {
        let o = tmp.path().join(format!("o{host}"));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_glifsim"));
        cmd.args(["run", p.to_str().unwrap(), "--backend", "gpu", "--out"])
            .arg(&o)
            .env_remove("GLIFSIM_HOST_SAMPLES");
        if host {
            cmd.env("GLIFSIM_HOST_SAMPLES", "1");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got = Vec::new();
        for name in [
            "g_v.npy",
            "g_theta.npy",
            "g_asc.npy",
            "g_trace_steps.npy",
            "g_spikes.npy",
        ] {
            got.push((name, std::fs::read(o.join(name)).unwrap()));
        }
        files.push(got);
    }
    let (_, steps) = read_npy_u32_u64(&tmp.path().join("ofalse/g_trace_steps.npy"));
    assert_eq!(steps.len(), 101, "samples at 0, 3, …, 300");
    for ((name, a), (_, b)) in files[0].iter().zip(&files[1]) {
        assert!(a == b, "{name} differs between device and host samples");
    }
}

/// A host input file is read a block at a time straight into the `[T][B][N]` layout, in either
/// of its shapes (`[T, N]`, the same input for every trial, and `[T, B, N]`), float32 or
/// float64, only the steps the run takes; a non-finite value among them is refused with its flat
/// index, one after them is not read; a wrong shape or dtype is refused, naming the file.
#[test]
fn host_input_files_are_read_in_either_shape_and_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let (n, trials, steps) = (5usize, 3usize, 10usize);
    let write = |name: &str, descr: &'static str, row: &[usize], rows: u64, bytes: &[u8]| {
        let mut s = NpyStream::create(&tmp.path().join(name), descr, row).unwrap();
        s.append(bytes, rows).unwrap();
        s.commit().unwrap();
    };
    let spec = |file: &str| {
        let text = format!(
            "dt = 0.1\nduration = 1.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = {n}\ntrials = {trials}\n[population.input]\nnpy = \"{file}\"\n"
        );
        let path = tmp.path().join("s.toml");
        std::fs::write(&path, text).unwrap();
        Spec::load(&path).unwrap()
    };
    let host = |file: &str| {
        spec(file)
            .prepare()
            .map(|p| p[0].host_input.clone().unwrap())
    };
    // [T, N] float64, two steps more than the run takes; its last row has a NaN (unread).
    let mut a: Vec<f64> = common::Rng(1).vec_f64(12 * n, -5.0, 5.0);
    a[11 * n + 2] = f64::NAN;
    write("a.npy", "<f8", &[n], 12, bytemuck::cast_slice(&a));
    let got = host("a.npy").unwrap();
    let want: Vec<f32> = (0..steps)
        .flat_map(|t| (0..trials).flat_map(move |_| (0..n).map(move |i| (t, i))))
        .map(|(t, i)| a[t * n + i] as f32)
        .collect();
    assert_eq!(got, want);
    // [T, B, N] float32.
    let b = common::Rng(2).vec_f32(steps * trials * n, -5.0, 5.0);
    write(
        "b.npy",
        "<f4",
        &[trials, n],
        steps as u64,
        bytemuck::cast_slice(&b),
    );
    assert_eq!(host("b.npy").unwrap(), b);
    // A NaN the run would read: refused with its flat index.
    let mut c = b.clone();
    c[4 * trials * n + 7] = f32::INFINITY;
    write(
        "c.npy",
        "<f4",
        &[trials, n],
        steps as u64,
        bytemuck::cast_slice(&c),
    );
    let e = host("c.npy").unwrap_err().to_string();
    assert!(e.contains("flat index 67") && e.contains("c.npy"), "{e}");
    // Too few steps, another N, another dtype, a truncated file.
    write("d.npy", "<f4", &[n], 9, bytemuck::cast_slice(&b[..9 * n]));
    write(
        "e.npy",
        "<f4",
        &[n + 1],
        steps as u64,
        bytemuck::cast_slice(&b[..steps * (n + 1)]),
    );
    write(
        "f.npy",
        "<i4",
        &[n],
        steps as u64,
        bytemuck::cast_slice(&vec![1i32; steps * n]),
    );
    for (file, says) in [
        ("d.npy", "expected shape"),
        ("e.npy", "expected shape"),
        ("f.npy", "float32 or float64"),
    ] {
        let e = host(file).unwrap_err().to_string();
        assert!(e.contains(says) && e.contains(file), "{file}: {e}");
    }
    // Past the reader's first block (2²⁰ values): the index counts from the file's start.
    let big = tmp.path().join("big.toml");
    std::fs::write(
        &big,
        "dt = 0.1\nduration = 110.0\n[[population]]\nname = \"q\"\nmodel = \"LIF\"\nneurons = 1000\n[population.input]\nnpy = \"big.npy\"\n",
    )
    .unwrap();
    let mut h = vec![1.0f32; 1100 * 1000];
    h[1_050_000] = f32::NAN;
    write("big.npy", "<f4", &[1000], 1100, bytemuck::cast_slice(&h));
    let e = Spec::load(&big).unwrap().prepare().unwrap_err().to_string();
    assert!(e.contains("flat index 1050000"), "{e}");
    let g = tmp.path().join("b.npy");
    let len = std::fs::metadata(&g).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&g)
        .unwrap()
        .set_len(len - 4)
        .unwrap();
    let e = host("b.npy").unwrap_err().to_string();
    assert!(e.contains("truncated") && e.contains("b.npy"), "{e}");
}
