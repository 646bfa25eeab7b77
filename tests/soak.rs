//! Soak tests, opt-in: `cargo test --release --test soak -- --ignored --nocapture`.
//! Ten million steps of a small population on the CPU path and one million on the GPU path
//! (lavapipe in CI's environment): no NaN, no drift of the spike count against an independent
//! run, no growth in memory.

mod common;

use glifsim::input::{Drive, Noise};
use glifsim::{Arith, CpuSim, Model, Population, StepOptions};

/// Resident memory of this process, bytes (Linux).
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    s.split_whitespace()
        .nth(1)
        .and_then(|x| x.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

fn population(model: Model) -> Population {
    let mut b = Population::builder(model, 64).dt(0.1);
    if model == Model::Alif {
        b = b
            .adapt_time_constants(vec![50.0.into()])
            .adapt_increments(vec![1.0.into()]);
    }
    b.build().unwrap()
}

fn drive() -> Drive {
    Drive {
        bias: 12.0.into(),
        noise: Some(Noise {
            mean: 0.0.into(),
            std: 40.0.into(),
            seed: 2024,
        }),
        schedule: vec![],
    }
}

#[test]
#[ignore = "soak: ten million CPU steps; run with --ignored"]
fn cpu_ten_million_steps() {
    for model in [Model::Lif, Model::Alif] {
        let pop = population(model);
        let mut a = CpuSim::<f32>::new(&pop, 1, Arith::Separate).unwrap();
        let mut b = CpuSim::<f64>::new(&pop, 1, Arith::Separate).unwrap();
        a.set_drive(drive()).unwrap();
        b.set_drive(drive()).unwrap();
        let (total, tenth) = (10_000_000usize, 1_000_000usize);
        let mut counts_a = Vec::new();
        let mut counts_b = Vec::new();
        let mut mem = Vec::new();
        for _ in 0..total / tenth {
            let mut ca = 0u64;
            a.run_inner(tenth, None, StepOptions::default(), |_, w| {
                ca += w.iter().map(|x| x.count_ones() as u64).sum::<u64>();
                Ok(())
            })
            .unwrap();
            let mut cb = 0u64;
            b.run_inner(tenth, None, StepOptions::default(), |_, w| {
                cb += w.iter().map(|x| x.count_ones() as u64).sum::<u64>();
                Ok(())
            })
            .unwrap();
            counts_a.push(ca);
            counts_b.push(cb);
            mem.push(rss());
            let st = a.state();
            assert!(
                st.v.iter()
                    .chain(&st.r)
                    .chain(&st.theta)
                    .all(|x| x.is_finite()),
                "{model}: non-finite state"
            );
        }
        let (sa, sb): (u64, u64) = (counts_a.iter().sum(), counts_b.iter().sum());
        let rel = (sa as f64 - sb as f64).abs() / sb as f64;
        eprintln!("{model}: 10M steps × 64 neurons: f32 {sa} spikes, f64 {sb} (relative difference {rel:.2e}); per million steps {counts_a:?}; RSS {:?} MB", mem.iter().map(|m| m / 1_000_000).collect::<Vec<_>>());
        assert!(sa > 100_000, "{model}: too few spikes to mean anything");
        // The f32 and f64 paths are independent runs of the same model (same noise draws).
        assert!(
            rel < 0.01,
            "{model}: f32 and f64 spike counts drift apart: {sa} vs {sb}"
        );
        // Stationary: the last million steps fire like the first.
        let (first, last) = (counts_a[0] as f64, counts_a[9] as f64);
        assert!(
            (first - last).abs() / first < 0.05,
            "{model}: rate drifts from {first} to {last}"
        );
        assert!(
            mem[9] <= mem[0] + 16_000_000,
            "{model}: memory grew from {} to {} bytes",
            mem[0],
            mem[9]
        );
    }
}

#[test]
#[ignore = "soak: one million GPU steps; run with --ignored"]
fn gpu_one_million_steps() {
    let Some(ctx) = common::gpu() else { return };
    let pop = population(Model::Alif);
    let opts = glifsim::gpu::GpuOptions {
        host_inputs: false,
        ..Default::default()
    };
    let mut g = glifsim::gpu::GpuSim::with_drive(ctx.clone(), &pop, 4, &drive(), &opts).unwrap();
    let mut c = CpuSim::<f32>::new(&pop, 4, ctx.arith()).unwrap();
    c.set_drive(drive()).unwrap();
    let mut mem = Vec::new();
    let (mut cg, mut cc) = (0u64, 0u64);
    for _ in 0..10 {
        g.run_inner(100_000, None, StepOptions::default(), |_, w| {
            cg += w.iter().map(|x| x.count_ones() as u64).sum::<u64>();
            Ok(())
        })
        .unwrap();
        c.run_inner(100_000, None, StepOptions::default(), |_, w| {
            cc += w.iter().map(|x| x.count_ones() as u64).sum::<u64>();
            Ok(())
        })
        .unwrap();
        mem.push(rss());
        assert_eq!(cg, cc, "GPU and CPU spike counts diverged");
    }
    let st = g.state().unwrap();
    assert!(st.v.iter().chain(&st.theta).all(|x| x.is_finite()));
    assert_eq!(
        st,
        c.state(),
        "GPU and CPU states differ after a million steps"
    );
    eprintln!(
        "{}: 1M steps × 64 neurons × 4 trials: {cg} spikes on both paths; RSS {:?} MB",
        ctx.adapter().name,
        mem.iter().map(|m| m / 1_000_000).collect::<Vec<_>>()
    );
    assert!(
        mem[9] <= mem[1] + 16_000_000,
        "memory grew from {} to {} bytes",
        mem[1],
        mem[9]
    );
}
