//! Checkpoints: a run restored from one and continued is bit-identical to the uninterrupted
//! run (CPU→CPU, GPU→GPU, and across paths on an adapter that computes fma() separately); bad
//! checkpoints are refused; writes are atomic; the command line resumes after a device fault.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{gpu, hetero_population, Rng};
use glifsim::checkpoint::{Checkpoint, FILE_NAME, VERSION};
use glifsim::gpu::GpuContext;
use glifsim::input::{Drive, Noise};
use glifsim::record::{read_npy_u32, IsiStats, Summary};
use glifsim::run::{resume, run_spec, RunOptions};
use glifsim::spec::Spec;
use glifsim::{Arith, Backend, Error, Model, Population, Simulator, StepOptions};

fn drive(n: usize) -> Drive {
    Drive {
        bias: glifsim::Param::PerNeuron(Rng(4).vec_f64(n, 8.0, 16.0)),
        noise: Some(Noise {
            mean: 0.0.into(),
            std: 30.0.into(),
            seed: 77,
        }),
        schedule: vec![(40, 3.0), (220, -1.0)],
    }
}

/// A simulator on `backend`; GPU simulators share the test's one context (`gpu`).
fn make(backend: Backend, model: Model, gpu: Option<&Arc<GpuContext>>) -> Simulator {
    let pop = hetero_population(model, 300, 12);
    let mut s = match backend {
        Backend::Gpu => {
            let ctx = gpu
                .expect("a GPU simulator needs the test's context")
                .clone();
            // The noise cache on, as on a GPU (CPU drivers default to off): a checkpoint
            // taken inside a quad of steps must not leave a stale cache behind.
            let opts = glifsim::gpu::GpuOptions {
                noise_cache: Some(true),
                ..Default::default()
            };
            Simulator::on_gpu(ctx, &pop, 2, &opts).unwrap()
        }
        _ => Simulator::Cpu(glifsim::CpuSim::new(&pop, 2, Arith::Separate).unwrap()),
    };
    s.set_drive(drive(300)).unwrap();
    s
}

/// 300 steps straight versus 150, checkpoint to a file, restore into a fresh simulator on
/// `to`, 150 more (host input too, so the input position matters).
fn round_trip(from: Backend, to: Backend, gpu: Option<&Arc<GpuContext>>) {
    let dir = tempfile::tempdir().unwrap();
    for model in [Model::Alif, Model::Glif5] {
        let inputs = Rng(9).vec_f32(300 * 600, -2.0, 2.0);
        let mut whole = make(from, model, gpu);
        let all = whole.run(300, &inputs, StepOptions::default()).unwrap();
        assert!(all.count() > 100, "{model}: too few spikes");
        let mut first = make(from, model, gpu);
        first
            .run(150, &inputs[..150 * 600], StepOptions::default())
            .unwrap();
        let path = dir.path().join("ck.glifsim");
        Checkpoint::capture(&[("p", &first)])
            .unwrap()
            .write_atomic(&path)
            .unwrap();
        let mut second = make(to, model, gpu);
        second.set_drive(Drive::default()).unwrap(); // the checkpoint brings the drive back
        Checkpoint::read(&path)
            .unwrap()
            .restore(0, &mut second)
            .unwrap();
        assert_eq!(second.steps_done(), 150);
        let rest = second
            .run(150, &inputs[150 * 600..], StepOptions::default())
            .unwrap();
        common::assert_continues(&format!("{model} {from:?}→{to:?}"), &rest, &all, 150);
        common::assert_state_eq(
            &format!("{model} {from:?}→{to:?}"),
            &second.state().unwrap(),
            &whole.state().unwrap(),
        );
    }
}

#[test]
fn cpu_to_cpu_is_bit_identical() {
    round_trip(Backend::Cpu, Backend::Cpu, None);
}

#[test]
fn gpu_to_gpu_and_across_paths() {
    let Some(ctx) = gpu() else { return };
    round_trip(Backend::Gpu, Backend::Gpu, Some(&ctx));
    if ctx.arith() == Arith::Separate {
        round_trip(Backend::Cpu, Backend::Gpu, Some(&ctx));
        round_trip(Backend::Gpu, Backend::Cpu, Some(&ctx));
    } else {
        eprintln!(
            "{} fuses fma(): CPU↔GPU restores are checked on separating adapters only",
            ctx.adapter().name
        );
    }
}

#[test]
fn bad_checkpoints_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = make(Backend::Cpu, Model::Glif5, None);
    sim.run_driven_with(20, StepOptions::default(), |_, _| Ok(()))
        .unwrap();
    let ck = Checkpoint::capture(&[("p", &sim)]).unwrap();
    let bytes = ck.to_bytes();
    let p = dir.path().join("x.glifsim");
    let check = |data: &[u8], needle: &str| {
        std::fs::write(&p, data).unwrap();
        let e = Checkpoint::read(&p).unwrap_err().to_string();
        assert!(
            e.contains(needle) && e.contains("x.glifsim"),
            "expected '{needle}' in: {e}"
        );
    };
    check(&bytes[..bytes.len() - 10], "checksum");
    check(&bytes[..5], "not a glifsim checkpoint");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x40;
    check(&flipped, "checksum");
    let mut v2 = bytes.clone();
    v2[8..12].copy_from_slice(&(VERSION + 1).to_le_bytes());
    check(&v2, &format!("version {}", VERSION + 1));
    check(b"", "not a glifsim checkpoint");
    // Restoring into another population (other parameters, other size) is refused and leaves
    // the target as it was.
    let mut other = make(Backend::Cpu, Model::Glif5, None);
    other.set_drive(Drive::default()).unwrap();
    let pop2 = hetero_population(Model::Glif5, 300, 13);
    let mut different = Simulator::new(&pop2, 2, Backend::Cpu).unwrap();
    let before = different.state().unwrap();
    let e = ck.restore(0, &mut different).unwrap_err();
    assert!(e.to_string().contains("other parameters"), "{e}");
    assert_eq!(different.state().unwrap(), before);
    assert_eq!(different.steps_done(), 0);
    let small = Simulator::new(&hetero_population(Model::Glif5, 10, 12), 2, Backend::Cpu).unwrap();
    let mut small = small;
    assert!(ck
        .restore(0, &mut small)
        .unwrap_err()
        .to_string()
        .contains("10"));
    // A noisy run checkpointed by another noise generator is refused (its noise would change).
    let mut old = ck.clone();
    old.meta.noise_generator = glifsim::noise::NOISE_GENERATOR - 1;
    let e = Checkpoint::from_bytes(&old.to_bytes(), Path::new("old"))
        .unwrap()
        .restore(0, &mut other)
        .unwrap_err();
    assert!(e.to_string().contains("noise with generator"), "{e}");
    assert_eq!(other.steps_done(), 0);
    // A file without the field is from generator 1.
    let json = serde_json::to_string(&ck.meta).unwrap();
    let stripped = json.replace(
        &format!("\"noise_generator\":{},", glifsim::noise::NOISE_GENERATOR),
        "",
    );
    assert_ne!(stripped, json);
    let meta: glifsim::checkpoint::Meta = serde_json::from_str(&stripped).unwrap();
    assert_eq!(meta.noise_generator, 1);
    // The good one still works.
    Checkpoint::from_bytes(&bytes, Path::new("ok"))
        .unwrap()
        .restore(0, &mut other)
        .unwrap();
    assert_eq!(other.state().unwrap(), sim.state().unwrap());
}

#[test]
fn writes_are_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    let mut sim = make(Backend::Cpu, Model::Alif, None);
    Checkpoint::capture(&[("p", &sim)])
        .unwrap()
        .write_atomic(&path)
        .unwrap();
    let first = Checkpoint::read(&path).unwrap();
    // A crash half-way through the next write leaves only a partial temporary file behind.
    sim.run_driven_with(10, StepOptions::default(), |_, _| Ok(()))
        .unwrap();
    let next = Checkpoint::capture(&[("p", &sim)]).unwrap().to_bytes();
    std::fs::write(path.with_extension("glifsim.tmp"), &next[..next.len() / 2]).unwrap();
    assert_eq!(
        Checkpoint::read(&path).unwrap(),
        first,
        "the previous checkpoint must survive"
    );
    // A completed write replaces it.
    Checkpoint::capture(&[("p", &sim)])
        .unwrap()
        .write_atomic(&path)
        .unwrap();
    assert_eq!(Checkpoint::read(&path).unwrap().meta.steps, 10);
    assert!(!path.with_extension("glifsim.tmp").exists());
}

const SPEC: &str = r#"
dt = 0.25
duration = 100.0
seed = 3
[[population]]
name = "a"
model = "GLIF5"
neurons = 64
trials = 2
[population.params]
theta_inf = -52.0
m_v = 0.4
b_v = 2.0
adapt_rate = [0.02]
adapt_increment = [1.0]
asc_rate = [0.02, 0.3]
asc_amp = [-0.3, 0.5]
theta_v_a = 0.004
theta_v_b = 0.1
[population.input]
bias = 14.0
noise = { mean = 0.0, std = 25.0 }
schedule = [[30.0, 4.0]]
[population.record]
v = [0, 63]
asc = [5]
every = 5
[[population]]
name = "b"
model = "LIF"
neurons = 40
[population.input]
npy = "input.npy"
"#;

/// The spec in `dir` (with its input file); `cv_isi = false` for population a when `!cv`.
fn setup(dir: &Path, cv: bool) -> Spec {
    let mut s = glifsim::record::NpyStream::create(&dir.join("input.npy"), "<f4", &[40]).unwrap();
    s.append(
        bytemuck::cast_slice(&Rng(5).vec_f32(400 * 40, 0.0, 45.0)),
        400,
    )
    .unwrap();
    s.commit().unwrap();
    let text = if cv {
        SPEC.to_string()
    } else {
        SPEC.replace("every = 5\n", "every = 5\ncv_isi = false\n")
    };
    std::fs::write(dir.join("spec.toml"), text).unwrap();
    Spec::load(dir.join("spec.toml")).unwrap()
}

fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "npy"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into(),
                std::fs::read(p).unwrap(),
            )
        })
        .collect()
}

fn fault_then_resume(first: Backend, then: Backend, cv: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let spec = setup(tmp.path(), cv);
    // The uninterrupted run.
    let straight = tmp.path().join("straight");
    let mut o = RunOptions::new(&straight);
    o.backend = first;
    let s1 = run_spec(&spec, &o, &mut |_, _| {}).unwrap();
    // Population a keeps interval statistics unless `cv_isi = false`; b always does.
    assert_eq!(
        s1.populations[0].cv_isi.is_some(),
        cv,
        "{:?}",
        s1.populations[0]
    );
    assert!(s1.populations[1].cv_isi.is_some());
    // A run that checkpoints every 50 steps and loses its device after step 130.
    let broken = tmp.path().join("broken");
    let mut o = RunOptions::new(&broken);
    o.backend = first;
    o.checkpoint_every = Some(50);
    o.inject_fault_after = Some(130);
    let e = run_spec(&spec, &o, &mut |_, _| {}).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Device(_)), "{msg}");
    assert!(
        msg.contains(FILE_NAME) && msg.contains("step 100") && msg.contains("glifsim resume"),
        "{msg}"
    );
    let partial = Summary::read(&broken).unwrap();
    assert!(!partial.complete && partial.steps >= 130, "{partial:?}");
    let (cshape, _) = read_npy_u32(&broken.join("a_counts.npy")).unwrap();
    assert_eq!(
        cshape,
        vec![partial.steps],
        "the recording holds every completed step"
    );
    // Resume (on `then`) and compare every output file with the uninterrupted run.
    let mut o = RunOptions::new(&broken);
    o.backend = then;
    let s2 = resume(&o, &mut |_, _| {}).unwrap();
    assert!(s2.complete);
    assert_eq!(s2.steps, s1.steps);
    for (a, b) in s1.populations.iter().zip(&s2.populations) {
        assert_eq!(a.spike_count, b.spike_count, "{}", a.name);
        assert_eq!(a.cv_isi, b.cv_isi, "{}", a.name);
    }
    let (x, y) = (outputs(&straight), outputs(&broken));
    assert_eq!(x.len(), y.len());
    for ((na, a), (nb, b)) in x.iter().zip(&y) {
        assert_eq!(na, nb);
        assert!(a == b, "{na} differs after resume ({first:?} → {then:?})");
    }
    assert!(
        !broken.join(FILE_NAME).exists(),
        "a finished run leaves no checkpoint"
    );
    // Resumed to the end, there is nothing left to resume.
    match resume(&o, &mut |_, _| {}) {
        Err(Error::Usage(m)) => assert!(m.contains("the run there finished"), "{m}"),
        other => panic!("a second resume: {other:?}"),
    }
}

#[test]
fn command_line_resumes_after_a_device_fault_cpu() {
    fault_then_resume(Backend::Cpu, Backend::Cpu, true);
    fault_then_resume(Backend::Cpu, Backend::Cpu, false);
}

/// `cv_isi = false` changes nothing but the statistics: the same spikes, the same files.
#[test]
fn a_run_without_interval_statistics_records_the_same_spikes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for cv in [true, false] {
        let dir = tmp.path().join(format!("cv{cv}"));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = setup(&dir, cv);
        let mut o = RunOptions::new(dir.join("out"));
        o.backend = Backend::Cpu;
        o.plot = false;
        let s = run_spec(&spec, &o, &mut |_, _| {}).unwrap();
        runs.push((s, outputs(&dir.join("out"))));
    }
    let ((with, fa), (without, fb)) = (&runs[0], &runs[1]);
    assert!(with.populations[0].cv_isi.is_some());
    assert_eq!(without.populations[0].cv_isi, None);
    assert_eq!(with.populations[1].cv_isi, without.populations[1].cv_isi);
    for (a, b) in with.populations.iter().zip(&without.populations) {
        assert_eq!(a.spike_count, b.spike_count, "{}", a.name);
    }
    assert!(!fa.is_empty() && fa == fb, "output files differ");
}

#[test]
fn command_line_resumes_after_a_device_fault_gpu() {
    let Some(ctx) = gpu() else { return };
    fault_then_resume(Backend::Gpu, Backend::Gpu, true);
    if ctx.arith() == Arith::Separate {
        fault_then_resume(Backend::Cpu, Backend::Gpu, false);
    }
}

#[test]
fn resume_without_a_checkpoint_says_so() {
    // An empty directory, and a run stopped (Ctrl-C) without --checkpoint-every: the message
    // names the file and says why it is not there.
    let tmp = tempfile::tempdir().unwrap();
    let e = resume(&RunOptions::new(tmp.path()), &mut |_, _| {}).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains(FILE_NAME) && m.contains("no run's output there"),
        "{m}"
    );
    let spec = setup(tmp.path(), true);
    let stopped = tmp.path().join("stopped");
    let o = RunOptions::new(&stopped);
    o.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let s = run_spec(&spec, &o, &mut |_, _| {}).unwrap();
    assert!(!s.complete);
    let e = resume(&RunOptions::new(&stopped), &mut |_, _| {}).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("stopped without a") && m.contains("--checkpoint-every"),
        "{m}"
    );
}

#[test]
fn fuzz_regression_statistics_flag_must_be_0_or_1() {
    // Found by `cargo fuzz run checkpoint_reader`: a flag byte of 57 was read as "absent".
    let mut sim = make(Backend::Cpu, Model::Lif, None);
    sim.set_drive(Drive::default()).unwrap();
    let mut bytes = Checkpoint::capture(&[("p", &sim)]).unwrap().to_bytes();
    let flag_at = bytes.len() - 5; // the last population's flag, just before the CRC
    assert_eq!(bytes[flag_at], 0);
    bytes[flag_at] = 57;
    let n = bytes.len();
    let crc = crc32fast::hash(&bytes[..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
    let e = Checkpoint::from_bytes(&bytes, Path::new("f.glifsim")).unwrap_err();
    assert!(e.to_string().contains("flag is 57"), "{e}");
}

/// The file layout the module documents, built here from its parts in memory: `GLIFCKPT`,
/// version, metadata length and JSON, payload length, per population V, r, θ and the
/// after-spike currents (each a u64 length and f32 values), a statistics flag and the four
/// statistics arrays, then the CRC32 of all before it.
fn reference_bytes(ck: &Checkpoint) -> Vec<u8> {
    let meta = serde_json::to_vec(&ck.meta).unwrap();
    let mut payload = Vec::new();
    for (st, isi) in ck.states.iter().zip(&ck.isi) {
        for arr in [&st.v, &st.r, &st.theta, &st.asc] {
            payload.extend_from_slice(&(arr.len() as u64).to_le_bytes());
            payload.extend_from_slice(bytemuck::cast_slice(arr));
        }
        match isi {
            Some(s) => {
                payload.push(1);
                let (last, count, sum, sumsq) = s.parts();
                for (bytes, len) in [
                    (bytemuck::cast_slice::<u64, u8>(&last), last.len()),
                    (bytemuck::cast_slice::<u32, u8>(&count), count.len()),
                    (bytemuck::cast_slice::<f64, u8>(&sum), sum.len()),
                    (bytemuck::cast_slice::<f64, u8>(&sumsq), sumsq.len()),
                ] {
                    payload.extend_from_slice(&(len as u64).to_le_bytes());
                    payload.extend_from_slice(bytes);
                }
            }
            None => payload.push(0),
        }
    }
    let mut out = b"GLIFCKPT".to_vec();
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(meta.len() as u64).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The streamed writer (statistics written a block of records at a time, given by reference)
/// writes the documented layout byte for byte, with statistics of more records than one block
/// and a population without them; the file reads back equal.
#[test]
fn streamed_checkpoint_is_the_documented_layout() {
    let n = 10_000;
    let pop = Population::builder(Model::Lif, n).build().unwrap();
    let (mut a, mut b) = (
        Simulator::new(&pop, 2, Backend::Cpu).unwrap(),
        Simulator::new(&pop, 1, Backend::Cpu).unwrap(),
    );
    let mut stats = IsiStats::new(2 * n);
    let steps = 400;
    let input = Rng(9).vec_f32(2 * n * steps, 20.0, 120.0);
    a.run_with(steps, &input, StepOptions::default(), |t, w| {
        stats.spikes_in(t as u64, w, 2, n);
        Ok(())
    })
    .unwrap();
    b.run(steps, &input[..n * steps], StepOptions::default())
        .unwrap();
    let mut ck = Checkpoint::capture(&[("a", &a), ("b", &b)]).unwrap();
    ck.isi = vec![Some(stats.clone()), None];
    assert!(stats.mean_cv().is_some(), "the statistics hold intervals");
    let want = reference_bytes(&ck);
    assert!(ck.to_bytes() == want, "to_bytes differs from the layout");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.glifsim");
    let mut held = ck.clone();
    held.isi = vec![None, None];
    held.write_atomic_with(&path, &[Some(&stats), None])
        .unwrap();
    assert!(std::fs::read(&path).unwrap() == want, "file differs");
    assert_eq!(Checkpoint::read(&path).unwrap(), ck);
    // As many statistics as populations, or an error.
    assert!(matches!(
        held.write_atomic_with(&path, &[Some(&stats)]),
        Err(Error::Usage(_))
    ));
}

/// The paths a test runs on: the CPU path, and the GPU where an adapter exists.
fn paths(ctx: &Option<Arc<GpuContext>>) -> Vec<Backend> {
    let mut out = vec![Backend::Cpu];
    if ctx.is_some() {
        out.push(Backend::Gpu);
    }
    out
}

/// A checkpoint written straight from the simulators (`write_from`: each state read a block at
/// a time, as `glifsim run` writes them) is the documented layout of the captured one, byte for
/// byte: LIF (no θ), ALIF (two θ components: the GPU's lane kernel) and GLIF5 (θ, θ_v and two
/// after-spike currents: the wide kernel), two trials, on each path, with statistics for one
/// population. Metadata and simulators that do not match are refused before anything is
/// written.
#[test]
fn checkpoints_written_from_the_simulators_are_the_documented_layout() {
    let ctx = gpu();
    let backends = paths(&ctx);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.glifsim");
    for backend in backends {
        let mut sims: Vec<Simulator> = [Model::Lif, Model::Alif, Model::Glif5]
            .into_iter()
            .map(|m| make(backend, m, ctx.as_ref()))
            .collect();
        let mut stats = IsiStats::new(2 * 300);
        for (i, s) in sims.iter_mut().enumerate() {
            let input = Rng(3).vec_f32(2 * 300 * 120, 0.0, 40.0);
            s.run_with(120, &input, StepOptions::default(), |t, w| {
                if i == 1 {
                    stats.spikes_in(t as u64, w, 2, 300);
                }
                Ok(())
            })
            .unwrap();
        }
        let named: Vec<(&str, &Simulator)> = ["a", "b", "c"].into_iter().zip(&sims).collect();
        let mut ck = Checkpoint::capture(&named).unwrap();
        ck.meta.steps = 120;
        ck.isi = vec![None, Some(stats.clone()), None];
        assert!(
            ck.states[2].asc.iter().any(|&x| x != 0.0),
            "GLIF5's currents moved"
        );
        let refs: Vec<&Simulator> = sims.iter().collect();
        Checkpoint::write_from(&path, &ck.meta, &refs, &[None, Some(&stats), None]).unwrap();
        assert!(
            std::fs::read(&path).unwrap() == reference_bytes(&ck),
            "{backend:?}: the file differs from the layout"
        );
        assert_eq!(Checkpoint::read(&path).unwrap(), ck);
        // Refused, and the checkpoint on disk kept: a simulator short, statistics short, or a
        // simulator of another shape than its metadata.
        let before = std::fs::read(&path).unwrap();
        let mut three_trials = ck.meta.clone();
        three_trials.populations[2].trials = 3;
        let mut other_model = ck.meta.clone();
        other_model.populations[0].model = "ALIF".into();
        for (meta, sims, isi) in [
            (&ck.meta, &refs[..2], &[None, None, None][..]),
            (&ck.meta, &refs[..], &[None, None][..]),
            (&three_trials, &refs[..], &[None, None, None][..]),
            (&other_model, &refs[..], &[None, None, None][..]),
        ] {
            assert!(matches!(
                Checkpoint::write_from(&path, meta, sims, isi),
                Err(Error::Usage(_))
            ));
        }
        assert!(
            std::fs::read(&path).unwrap() == before,
            "{backend:?}: file changed"
        );
    }
}

/// `restore_and_release` restores as `restore` does and then holds no copy of the state; a
/// simulator it does not fit is refused with the checkpoint's state kept, on each path.
#[test]
fn restore_and_release_moves_the_state_out() {
    let ctx = gpu();
    let backends = paths(&ctx);
    for backend in backends {
        let mut sim = make(backend, Model::Glif5, ctx.as_ref());
        let input = Rng(6).vec_f32(2 * 300 * 60, 0.0, 40.0);
        sim.run(60, &input, StepOptions::default()).unwrap();
        let ck = Checkpoint::capture(&[("p", &sim)]).unwrap();
        let mut other = make(backend, Model::Alif, ctx.as_ref());
        let mut taken = ck.clone();
        assert!(matches!(
            taken.restore_and_release(0, &mut other),
            Err(Error::Usage(_))
        ));
        assert_eq!(
            taken, ck,
            "{backend:?}: a refused restore changed the checkpoint"
        );
        let mut again = make(backend, Model::Glif5, ctx.as_ref());
        taken.restore_and_release(0, &mut again).unwrap();
        assert!(taken.states[0].v.is_empty() && taken.states[0].theta.is_empty());
        assert_eq!(again.steps_done(), 60);
        common::assert_state_eq(
            &format!("{backend:?}"),
            &again.state().unwrap(),
            &sim.state().unwrap(),
        );
    }
}
