//! Embedding glifsim in another program: build a population, step it, read the spikes and
//! sample traces within a run.
//!
//! `cargo run --release --example embed` (on the GPU when an adapter exists, else the CPU).

use glifsim::input::{Drive, Noise};
use glifsim::{Backend, Model, Param, Population, Sampling, Simulator, StepOptions};

fn main() -> glifsim::Result<()> {
    env_logger::init();
    // 10,000 ALIF neurons with per-neuron membrane time constants.
    let n = 10_000;
    let taus: Vec<f64> = (0..n).map(|i| 10.0 + 20.0 * i as f64 / n as f64).collect();
    let pop = Population::builder(Model::Alif, n)
        .dt(0.1)
        .tau_m(Param::PerNeuron(taus))
        .theta_inf(-50.0)
        .adapt_time_constants(vec![50.0.into()])
        .adapt_increments(vec![2.0.into()])
        .build()?;
    let mut sim = Simulator::new(&pop, 1, Backend::Auto)?;
    println!("running on {} (fma {})", sim.device_name(), sim.arith());

    // Drive computed on the device: a bias plus Gaussian noise.
    sim.set_drive(Drive {
        bias: 16.0.into(),
        noise: Some(Noise {
            mean: 0.0.into(),
            std: 30.0.into(),
            seed: 42,
        }),
        schedule: vec![],
    })?;

    // Interactive use: one step at a time with a host input added to the drive.
    let kick = vec![5.0f32; n];
    for t in 0..5 {
        let frame = sim.step(&kick, StepOptions::default())?;
        println!("step {t}: {} spikes", frame.count());
    }

    // Bulk use: 2,000 steps in chunks, spikes streamed to a closure.
    let mut total = 0u64;
    sim.run_driven_with(2000, StepOptions::default(), |_t0, words| {
        total += words.iter().map(|w| w.count_ones() as u64).sum::<u64>();
        Ok(())
    })?;
    let state = sim.state()?;
    let mean_theta: f32 = state.theta.iter().sum::<f32>() / state.theta.len() as f32;
    println!(
        "{total} spikes in 200 ms: {:.1} Hz; mean adaptation θ = {mean_theta:.2} mV",
        total as f64 / (n as f64 * 0.2)
    );

    // Traces within a run: V and θ of two neurons every 10 steps (on a GPU copied on the
    // device as the run goes, so it does not stop for the host at each sample).
    let sampling = Sampling {
        neurons: vec![0, n - 1],
        every: 10,
    };
    let mut trace = Vec::new();
    sim.run_sampled(
        500,
        None,
        StepOptions::default(),
        &sampling,
        |_t0, _words| Ok(()),
        |step, st| {
            trace.push((step, st.v[0], st.v[1], st.theta[0]));
            Ok(())
        },
    )?;
    for (step, v0, v1, th0) in trace.iter().step_by(10) {
        println!("step {step}: V = {v0:.2} / {v1:.2} mV, θ(0) = {th0:.2} mV");
    }
    Ok(())
}
