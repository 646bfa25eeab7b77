//! The f–I curve of a fitted Allen Institute GLIF neuron: one copy of the cell per input
//! current, all simulated at once, each driven by its own constant current on the device.
//!
//! `cargo run --release --example allen [NEURON_CONFIG.json]` (by default the GLIF5 fit in
//! `tests/fixtures/allen/a05_glif5_step.json`; any AllenSDK neuron config works, such as
//! those the Allen Cell Types Database serves). On the GPU when an adapter exists, else on the
//! CPU path.

use glifsim::input::Drive;
use glifsim::{Backend, Param, Simulator, StepOptions};

fn main() -> glifsim::Result<()> {
    env_logger::init();
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/allen/a05_glif5_step.json"
        )
        .into()
    });
    // 101 copies of the cell: copy i gets 5·i pA, from 0 to 500 pA.
    let currents: Vec<f64> = (0..=100).map(|i| 0.005 * i as f64).collect(); // nA
    let cell = glifsim::allen::load(&path, currents.len())?;
    let pop = &cell.population;
    println!(
        "{}: {} with Δt = {} ms, R = {:.0} MΩ, τ_m = {:.1} ms",
        path,
        pop.model(),
        cell.dt,
        pop.resistance().at(0),
        pop.tau_m().at(0)
    );

    let mut sim = Simulator::new(pop, 1, Backend::Auto)?;
    sim.set_state(&cell.initial_state(1))?;
    sim.set_drive(Drive {
        bias: Param::PerNeuron(currents.clone()),
        ..Default::default()
    })?;
    // One second of simulated time, spike counts per neuron from the streamed words.
    let steps = (1000.0 / cell.dt).round() as usize;
    let mut counts = vec![0u32; currents.len()];
    sim.run_driven_with(steps, StepOptions::default(), |_, words| {
        let w = currents.len().div_ceil(32);
        for row in words.chunks(w) {
            for i in glifsim::frame::bits_to_indices(row) {
                counts[i as usize] += 1;
            }
        }
        Ok(())
    })?;
    println!("on {} ({} steps)", sim.device_name(), steps);

    println!("{:>8}  {:>8}", "I (pA)", "rate (Hz)");
    for (i, (&c, &n)) in currents.iter().zip(&counts).enumerate() {
        if i % 5 == 0 {
            println!("{:>8.0}  {:>8}", c * 1e3, n);
        }
    }
    match counts.iter().position(|&n| n > 0) {
        Some(i) => println!("rheobase ≈ {:.0} pA", currents[i] * 1e3),
        None => println!(
            "no spikes up to {:.0} pA",
            currents[currents.len() - 1] * 1e3
        ),
    }
    Ok(())
}
