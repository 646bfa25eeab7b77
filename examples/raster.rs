//! Reproduces the README's raster: the demo population (a million LIF neurons with noisy
//! drive and a 50 ms pulse; 100,000 on the CPU path) written to `out/readme/raster.png`.
//!
//! `cargo run --release --example raster`

use glifsim::run::{demo_spec, run_spec, RunOptions};

fn main() -> glifsim::Result<()> {
    env_logger::init();
    let gpu = glifsim::gpu::list_adapters()
        .iter()
        .any(|a| a.device_type != "Cpu");
    let neurons = if gpu { 1_000_000 } else { 100_000 };
    let spec = demo_spec(neurons, 300.0, 1)?;
    let summary = run_spec(&spec, &RunOptions::new("out/readme"), &mut |_, _| {})?;
    let p = &summary.populations[0];
    println!(
        "{} neurons on {}: {} spikes, {:.2} Hz; wrote out/readme/raster.png",
        p.neurons, summary.adapter, p.spike_count, p.mean_rate_hz
    );
    Ok(())
}
