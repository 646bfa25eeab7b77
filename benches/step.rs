//! Criterion benchmarks small enough for CI's lavapipe: one step of 100,000 neurons on the CPU
//! path (vectorised and literal kernels, shared and per-neuron parameters), a 10-step noisy CPU run and single noisy steps, and
//! on the GPU path when an adapter exists a 10-step chunk (per-step and fused) and one
//! interactive noisy step with and without the noise cache.
//! `glifsim bench` measures the large configurations and bandwidth.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use glifsim::gpu::{GpuContext, GpuOptions, GpuSim};
use glifsim::{Arith, CpuSim, Model, StepOptions};

const N: usize = 100_000;

fn cpu(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu");
    g.throughput(Throughput::Elements(N as u64));
    for model in [Model::Lif, Model::Alif, Model::Glif2, Model::Glif5] {
        let input = vec![16.0f32; N];
        // Shared and per-neuron parameters; the vectorised kernel, and the literal
        // `update_neuron` it is checked against.
        for per_neuron in [false, true] {
            let pop = glifsim::bench::bench_population_with(model, N, per_neuron).unwrap();
            for vectorised in [true, false] {
                let mut sim = CpuSim::<f32>::new(&pop, 1, Arith::Separate).unwrap();
                sim.set_vectorised(vectorised);
                let params = if per_neuron { " per-neuron" } else { "" };
                let kind = if vectorised { "" } else { " literal" };
                g.bench_function(format!("{}{params}{kind}", model.name()), |b| {
                    b.iter(|| sim.step(&input, StepOptions::default()).unwrap())
                });
            }
        }
    }
    g.finish();
    // 10-step runs driven on the host by bias and Philox noise (blocks stay in cache).
    let mut g = c.benchmark_group("cpu-run");
    g.throughput(Throughput::Elements(10 * N as u64));
    let pop = glifsim::bench::bench_population(Model::Lif, N).unwrap();
    let mut sim = CpuSim::<f32>::new(&pop, 1, Arith::Separate).unwrap();
    sim.set_drive(glifsim::bench::noise_drive()).unwrap();
    g.bench_function("LIF 10 steps, noise", |b| {
        b.iter(|| sim.run_driven(10, StepOptions::default()).unwrap())
    });
    g.finish();
    // One driven step per call: three calls in four read the noise the last one drew.
    let mut g = c.benchmark_group("cpu-step");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("LIF 1 step, noise", |b| {
        b.iter(|| sim.run_driven(1, StepOptions::default()).unwrap())
    });
    g.finish();
}

fn gpu(c: &mut Criterion) {
    let Ok(ctx) = GpuContext::new() else {
        eprintln!("no GPU adapter: GPU benchmarks skipped");
        return;
    };
    let ctx = Arc::new(ctx);
    let mut g = c.benchmark_group(format!("gpu/{}", ctx.adapter().name));
    g.throughput(Throughput::Elements(10 * N as u64));
    // Streamed input, fused and one dispatch per step, with the wide kernel (four neurons per
    // invocation, the default for LIF) and the lane kernel (one).
    for fused in [false, true] {
        for wide in [true, false] {
            let pop = glifsim::bench::bench_population(Model::Lif, N).unwrap();
            let opts = GpuOptions {
                fused,
                wide: Some(wide),
                ..Default::default()
            };
            let mut sim = GpuSim::with_options(ctx.clone(), &pop, 1, &opts).unwrap();
            let input = vec![16.0f32; 10 * N];
            let name = format!(
                "LIF 10 steps {}, {} kernel",
                if fused { "fused" } else { "per-step" },
                if wide { "wide" } else { "lane" }
            );
            g.bench_function(name, |b| {
                b.iter(|| sim.run(10, &input, StepOptions::default()).unwrap())
            });
        }
    }
    g.finish();
    // One interactive step (submit, compute, read back) with on-device noise, with and
    // without the noise cache.
    let mut g = c.benchmark_group(format!("gpu-interactive/{}", ctx.adapter().name));
    g.throughput(Throughput::Elements(N as u64));
    let pop = glifsim::bench::bench_population(Model::Lif, N).unwrap();
    let drive = glifsim::bench::noise_drive();
    for cache in [true, false] {
        let opts = GpuOptions {
            host_inputs: false,
            noise_cache: Some(cache),
            ..Default::default()
        };
        let mut sim = GpuSim::with_drive(ctx.clone(), &pop, 1, &drive, &opts).unwrap();
        let name = format!(
            "LIF step, noise, cache {}",
            if cache { "on" } else { "off" }
        );
        g.bench_function(name, |b| {
            b.iter(|| sim.step_driven(StepOptions::default()).unwrap())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = cpu, gpu
}
criterion_main!(benches);
