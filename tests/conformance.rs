//! Conformance with the reference library: every Inferno fixture (and every `*.json` in
//! `GLIFSIM_FIXTURES_DIR`) run through the CPU path in the file's dtype, separate arithmetic,
//! with the fixture's initial state, inputs, options and adaptation factors; every spike, V,
//! refractory value and θ must be bit-identical at every step.
//!
//! This is a plain program (no test harness) so that its summary line is always printed:
//! `conformance: F files, S steps, 0 mismatches`. Zero files is a failure.

mod common;

use common::{fixture_files, Fixture};
use glifsim::{Arith, CpuSim, Real};

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
    if files.is_empty() {
        eprintln!("conformance: no fixture files found: that is a failure, not a pass");
        std::process::exit(1);
    }
    if mismatches > 0 {
        std::process::exit(1);
    }
}
