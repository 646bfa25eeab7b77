//! Conformance with the reference library: every Inferno fixture (and every `*.json` in
//! `GLIFSIM_FIXTURES_DIR`) run through the CPU path in the file's dtype, separate arithmetic,
//! with the fixture's initial state, inputs, options and adaptation factors; every spike, V,
//! refractory value and θ must be bit-identical at every step.
//!
//! Then the float32 fixtures run through the GPU path when an adapter exists: bit-exact on an
//! adapter that computes `fma()` separately (lavapipe); on one that fuses (NVIDIA), the GPU must
//! equal the CPU path in fused mode bit for bit, and its spikes may differ from the fixture only
//! where the voltage is within a few ulps of threshold.
//!
//! This is a plain program (no test harness) so that its summary line is always printed:
//! `conformance: F files, S steps, 0 mismatches`. Zero files is a failure.

mod common;

use common::{fixture_files, Fixture};
use glifsim::gpu::{GpuContext, GpuSim};
use glifsim::{Arith, CpuSim, Real, State};

fn run_cpu<R: Real>(f: &Fixture) -> Vec<String> {
    let mut sim = CpuSim::<R>::new(&f.pop, f.trials, Arith::Separate).unwrap();
    sim.set_state(f.initial_as::<R>()).unwrap();
    let inputs = f.inputs_as::<R>();
    let per = f.trials * f.pop.len();
    let mut errs = Vec::new();
    for t in 0..f.steps {
        let frame = sim.step(&inputs[t * per..(t + 1) * per], f.opts).unwrap();
        errs.extend(f.check_step(t, &frame, &sim.state(), true));
    }
    errs
}

/// The GPU path, one step at a time, checked against the fixture (separate adapter) or against
/// the fused CPU path plus a near-threshold allowance (fused adapter).
fn run_gpu(ctx: &std::sync::Arc<GpuContext>, f: &Fixture) -> (Vec<String>, usize) {
    let mut g = GpuSim::new(ctx.clone(), &f.pop, f.trials).unwrap();
    g.set_state(&f.initial_as::<f32>()).unwrap();
    let mut cpu = CpuSim::<f32>::new(&f.pop, f.trials, ctx.arith()).unwrap();
    cpu.set_state(f.initial_as::<f32>()).unwrap();
    let inputs = f.inputs_as::<f32>();
    let per = f.trials * f.pop.len();
    let (mut errs, mut near_threshold) = (Vec::new(), 0);
    for t in 0..f.steps {
        let inp = &inputs[t * per..(t + 1) * per];
        let frame = g.step(inp, f.opts).unwrap();
        let st: State<f32> = g.state().unwrap();
        if ctx.arith() == Arith::Separate {
            errs.extend(f.check_step(t, &frame, &st, true));
        } else {
            let before = cpu.state();
            let cf = cpu.step(inp, f.opts).unwrap();
            if cf != frame || st != cpu.state() {
                errs.push(format!(
                    "{}: step {t}: GPU differs from the fused CPU path",
                    f.path.display()
                ));
            }
            let _ = before;
            near_threshold += f.check_step(t, &frame, &st, false).len();
        }
    }
    (errs, near_threshold)
}

/// The fused arithmetic mode against the fixtures, resynchronised to the fixture's state before
/// every step: a spike may differ from the reference only where the voltage that was tested is
/// within `ULPS` ulps of the threshold. Returns (steps, differences, violations).
fn fused_near_threshold(f: &Fixture) -> (usize, usize, Vec<String>) {
    const ULPS: f32 = 4.0;
    let n = f.pop.len();
    let mut sim = CpuSim::<f32>::new(&f.pop, f.trials, Arith::Fused).unwrap();
    let inputs = f.inputs_as::<f32>();
    let per = f.trials * n;
    let (mut diffs, mut bad) = (0, Vec::new());
    for t in 0..f.steps {
        sim.set_state(f.state_after::<f32>(t.checked_sub(1)))
            .unwrap();
        let frame = sim.step(&inputs[t * per..(t + 1) * per], f.opts).unwrap();
        let st = sim.state();
        for b in 0..f.trials {
            for i in 0..n {
                let expected = f.spikes[t * per + b * n + i];
                if frame.get(b, i) == expected {
                    continue;
                }
                diffs += 1;
                // The side that did not spike kept its tested voltage V'.
                let v_tested = if expected {
                    st.v[b * n + i]
                } else {
                    f.voltage[t * per + b * n + i] as f32
                };
                let theta = f.theta_used(t, i) as f32;
                let ulp = f32::EPSILON * theta.abs().max(v_tested.abs());
                if (v_tested - theta).abs() > ULPS * ulp {
                    bad.push(format!(
                        "{}: step {t} trial {b} neuron {i}: fused spike {} vs reference {expected}, but V' = {v_tested} is {} ulps from Θ = {theta}",
                        f.path.display(), !expected, (v_tested - theta).abs() / ulp
                    ));
                }
            }
        }
    }
    (f.steps, diffs, bad)
}

fn main() {
    let files = fixture_files();
    let (mut steps, mut mismatches) = (0usize, 0usize);
    for path in &files {
        let f = Fixture::load(path);
        let errs = match f.dtype.as_str() {
            "float32" => run_cpu::<f32>(&f),
            "float64" => run_cpu::<f64>(&f),
            other => panic!("{}: unknown dtype {other}", path.display()),
        };
        for e in errs.iter().take(10) {
            eprintln!("MISMATCH {e}");
        }
        steps += f.steps;
        mismatches += errs.len();
    }
    println!(
        "conformance: {} files, {} steps, {} mismatches",
        files.len(),
        steps,
        mismatches
    );
    // Fused arithmetic (what NVIDIA computes) against the reference, near threshold only.
    let (mut fs, mut fd, mut fbad) = (0, 0, Vec::new());
    for path in &files {
        let f = Fixture::load(path);
        if f.dtype == "float32" {
            let (s, d, b) = fused_near_threshold(&f);
            fs += s;
            fd += d;
            fbad.extend(b);
        }
    }
    for e in fbad.iter().take(10) {
        eprintln!("FUSED MISMATCH {e}");
    }
    println!(
        "conformance (CPU fused mode, resynchronised each step): {fs} steps, {fd} spike differences, {} farther than 4 ulps from threshold",
        fbad.len()
    );
    mismatches += fbad.len();

    // The GPU path.
    let require = std::env::var("GLIFSIM_REQUIRE_GPU").is_ok_and(|v| v == "1");
    match GpuContext::new() {
        Ok(ctx) => {
            let ctx = std::sync::Arc::new(ctx);
            let (mut gf, mut gs, mut gm, mut near) = (0, 0, 0, 0);
            for path in &files {
                let f = Fixture::load(path);
                if f.dtype != "float32" {
                    continue;
                }
                eprintln!("conformance (GPU): {}", path.display());
                let (errs, nt) = run_gpu(&ctx, &f);
                for e in errs.iter().take(10) {
                    eprintln!("GPU MISMATCH {e}");
                }
                gf += 1;
                gs += f.steps;
                gm += errs.len();
                near += nt;
            }
            println!(
                "conformance (GPU, {}, fma {}): {gf} files, {gs} steps, {gm} mismatches, {near} near-threshold spike differences",
                ctx.adapter().name,
                ctx.arith()
            );
            mismatches += gm;
        }
        Err(e) if require => {
            eprintln!("conformance: GLIFSIM_REQUIRE_GPU=1 but no GPU adapter: {e}");
            std::process::exit(1);
        }
        Err(e) => println!("conformance (GPU): SKIPPED, no GPU adapter ({e})"),
    }
    if files.is_empty() {
        eprintln!("conformance: no fixture files found: that is a failure, not a pass");
        std::process::exit(1);
    }
    if mismatches > 0 {
        std::process::exit(1);
    }
}
