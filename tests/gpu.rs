//! The GPU path against the CPU path, bit for bit, in the adapter's arithmetic mode.
//! Every test here runs on whatever adapter exists (lavapipe in CI, where
//! GLIFSIM_REQUIRE_GPU=1 turns a missing adapter into a failure).

mod common;

use common::{assert_state_eq, gpu, hetero_population, select_neurons, Rng};
use glifsim::gpu::{GpuOptions, GpuSim};
use glifsim::input::Drive;
use glifsim::{CpuSim, Model, Population, StateArray, StepOptions};

const MODELS: [Model; 4] = [Model::Lif, Model::Glif1, Model::Alif, Model::Glif2];

/// Run `steps` steps on both paths with the same random inputs (strong enough that neurons
/// fire and go refractory), comparing spikes every step and the full state at the end; the
/// fused and per-step kernels, and where it serves the wide and lane kernels, against each
/// other.
fn compare(
    pop: &Population,
    trials: usize,
    steps: usize,
    opts: StepOptions,
    gopts: &GpuOptions,
    seed: u64,
) {
    let Some(ctx) = gpu() else { return };
    let mut g = GpuSim::with_options(ctx.clone(), pop, trials, gopts).unwrap();
    let mut c = CpuSim::<f32>::new(pop, trials, ctx.arith()).unwrap();
    let bn = trials * pop.len();
    let inputs = Rng(seed).vec_f32(steps * bn, 0.0, 50.0);
    let gs = g.run(steps, &inputs, opts).unwrap();
    let cs = c.run(steps, &inputs, opts).unwrap();
    assert!(
        cs.count() > 0,
        "test is too weak: no spikes ({} N = {})",
        pop.model(),
        pop.len()
    );
    // Another kernel variant gives the same spikes and state, bit for bit.
    let same = |what: &str, other: GpuOptions| {
        let mut g2 = GpuSim::with_options(ctx.clone(), pop, trials, &other).unwrap();
        assert_eq!(
            g2.run(steps, &inputs, opts).unwrap(),
            gs,
            "{}: {what} differ",
            pop.model()
        );
        assert_state_eq(what, &g2.state().unwrap(), &g.state().unwrap());
    };
    // The per-step kernel (one dispatch per step) and the fused one.
    same(
        "fused and per-step kernels",
        GpuOptions {
            fused: !gopts.fused,
            ..gopts.clone()
        },
    );
    // Where the wide kernel serves, the other kernel (lane or wide).
    if GpuOptions::wide_serves(pop) {
        same(
            "wide and lane kernels",
            GpuOptions {
                wide: Some(!g.is_wide()),
                ..gopts.clone()
            },
        );
    }
    for t in 0..steps {
        assert_eq!(
            gs.frame(t),
            cs.frame(t),
            "{} step {t}: spikes differ (opts {opts:?})",
            pop.model()
        );
    }
    assert_state_eq(
        &format!("{} after {steps} steps", pop.model()),
        &g.state().unwrap(),
        &c.state(),
    );
}

#[test]
fn gpu_equals_cpu_every_model_lock_and_freeze() {
    for (i, model) in MODELS.into_iter().enumerate() {
        // N = 1000: neither a multiple of 32 nor of the workgroup size 256.
        let pop = hetero_population(model, 1000, 11 + i as u64);
        for lock in [true, false] {
            for freeze in [false, true] {
                let opts = StepOptions {
                    refrac_lock: lock,
                    freeze_adaptation: freeze,
                    check_input: true,
                };
                compare(&pop, 3, 150, opts, &GpuOptions::default(), 7);
            }
        }
    }
}

/// `n` neurons of `model` with default parameters (one θ component for ALIF and GLIF2).
fn uniform_population(model: Model, n: usize, dt: f64) -> Population {
    let mut b = Population::builder(model, n).dt(dt);
    if model.is_adaptive() {
        b = b
            .adapt_time_constants(vec![20.0.into()])
            .adapt_increments(vec![2.0.into()]);
        if model == Model::Glif2 {
            b = b.adapt_rates(vec![0.05.into()]).m_v(0.5).b_v(4.0);
        }
    }
    b.build().unwrap()
}

#[test]
fn uniform_parameters_and_odd_sizes() {
    for model in MODELS {
        for n in [1usize, 31, 33, 257] {
            compare(
                &uniform_population(model, n, 0.1),
                2,
                300,
                StepOptions::default(),
                &GpuOptions::default(),
                n as u64,
            );
        }
    }
}

/// The wide kernel (four neurons per invocation, V, each state component, the input and the
/// noise cache moved as vectors; K ≤ 1, J ≤ 2: every model) against the CPU path bit for bit,
/// fused and one dispatch per step, and against the lane kernel (`compare`): per-neuron
/// parameters (each of a vector's four neurons its own), one and three trials, the lock on and
/// off, adaptation frozen or not, N = 4 and 36 (the last spike word partial), N = 37, 103 and
/// 1001 (the last partial word in a lane shard), split shards with a last shard of 4 or 6
/// neurons, on-device bias and schedule with host input, and on-device noise with and without
/// the noise cache; and where it does not serve, the lane kernel is chosen, or forcing it is an
/// error that says why.
#[test]
fn wide_kernel_equals_the_cpu_path() {
    use glifsim::input::{Drive, Noise};
    let Some(ctx) = gpu() else { return };
    let entry = |subgroup: bool| if subgroup { "subgroup" } else { "workgroup" };
    eprintln!(
        "adapter {}, subgroup size {:?}: wide kernel by its {} entry point, lane kernel by its {}",
        ctx.adapter().name,
        ctx.subgroup_size(),
        entry(ctx.wide_ballot()),
        entry(ctx.lane_subgroup_entry()),
    );
    let wide = GpuOptions {
        wide: Some(true),
        ..Default::default()
    };
    // The child process of the next test, which is there for the spike-word assembly, takes
    // two of the populations.
    let all = std::env::var_os("GLIFSIM_WIDE_CHILD").is_none();
    for (model, n) in [
        (Model::Lif, 1000),
        (Model::Glif5, 103),
        (Model::Glif1, 4),
        (Model::Glif1, 36),
        (Model::Lif, 260),
        (Model::Alif, 1000),
        (Model::Glif2, 36),
        (Model::Glif2, 500),
        (Model::Glif3, 100),
        (Model::Glif4, 260),
        (Model::Glif5, 1000),
        (Model::Glif5, 36),
        (Model::Lif, 1001),
        (Model::Glif2, 37),
    ]
    .into_iter()
    .take(if all { usize::MAX } else { 2 })
    {
        // hetero_population gives GLIF4 and GLIF5 one θ component, ALIF and GLIF2 two.
        let pop = if matches!(model, Model::Alif | Model::Glif2) {
            one_component_population(model, n, 40 + n as u64)
        } else {
            hetero_population(model, n, 40 + n as u64)
        };
        for trials in [1, 3] {
            for lock in [false, true] {
                // Freezing matters only where there is adaptation.
                let freezes: &[bool] = if model.is_adaptive() {
                    &[false, true]
                } else {
                    &[false]
                };
                for &freeze in freezes {
                    let opts = StepOptions {
                        refrac_lock: lock,
                        freeze_adaptation: freeze,
                        ..Default::default()
                    };
                    compare(&pop, trials, 120, opts, &wide, n as u64 + trials as u64);
                }
            }
        }
        let g = GpuSim::with_options(ctx.clone(), &pop, 2, &GpuOptions::default()).unwrap();
        assert!(g.is_wide(), "{model} N = {n}: the default should be wide");
        // The portable variant (workgroup atomics) agrees too.
        let portable = GpuOptions {
            portable: true,
            ..wide.clone()
        };
        compare(&pop, 2, 60, StepOptions::default(), &portable, 5);
    }
    // Uniform parameters over split shards, chunks of 7 steps: 4 × 256 + 4 (all wide), and
    // 4 × 256 + 6 (the 6 on the lane kernel).
    for (n, shards) in [(1028, 5), (1030, 5)] {
        let pop = uniform_population(Model::Lif, n, 0.1);
        let split = GpuOptions {
            max_shard_neurons: Some(256),
            chunk_steps: 7,
            ..wide.clone()
        };
        let g = GpuSim::with_options(ctx.clone(), &pop, 2, &split).unwrap();
        assert_eq!((g.shard_count(), g.is_wide()), (shards, true), "N = {n}");
        compare(&pop, 2, 300, StepOptions::default(), &split, 9);
    }
    // N not a multiple of 4: whole spike words wide, the last partial word (N mod 32 < 32
    // neurons) in a lane shard; below 32 neurons no shard is wide.
    for (n, shards, is_wide) in [(1001, 2, true), (37, 2, true), (5, 1, false)] {
        let pop = hetero_population(Model::Lif, n, 3);
        let g = GpuSim::with_options(ctx.clone(), &pop, 3, &GpuOptions::default()).unwrap();
        assert_eq!((g.shard_count(), g.is_wide()), (shards, is_wide), "N = {n}");
    }
    // On-device bias and schedule plus host input, from a state with refractory neurons.
    let n = 516;
    let pop = hetero_population(Model::Lif, n, 77);
    let drive = Drive {
        bias: glifsim::Param::PerNeuron(Rng(4).vec_f64(n, 0.0, 20.0)),
        noise: None,
        schedule: vec![(10, 15.0), (50, -2.0)],
    };
    let mut g = GpuSim::with_drive(ctx.clone(), &pop, 2, &drive, &wide).unwrap();
    let mut c = CpuSim::<f32>::new(&pop, 2, ctx.arith()).unwrap();
    c.set_drive(drive.clone()).unwrap();
    let inputs = Rng(6).vec_f32(90 * 2 * n, -5.0, 30.0);
    let gs = g.run(90, &inputs, StepOptions::default()).unwrap();
    assert!(gs.count() > 100, "too few spikes");
    assert_eq!(gs, c.run(90, &inputs, StepOptions::default()).unwrap());
    assert_eq!(
        g.run_driven(40, StepOptions::default()).unwrap(),
        c.run_driven(40, StepOptions::default()).unwrap(),
        "drive alone after host input"
    );
    assert_state_eq("wide, driven", &g.state().unwrap(), &c.state());

    // On-device noise (per-neuron mean and deviation) with bias and schedule, 2 trials, split
    // shards, chunks of 33 steps (dispatches starting inside a quad of steps), fused and per
    // step, with the noise cache on and off; then host input on top.
    let n = 520;
    let pop = hetero_population(Model::Glif1, n, 78);
    let drive = Drive {
        bias: 8.0.into(),
        noise: Some(Noise {
            mean: glifsim::Param::PerNeuron(Rng(5).vec_f64(n, -2.0, 4.0)),
            std: glifsim::Param::PerNeuron(Rng(6).vec_f64(n, 10.0, 30.0)),
            seed: 0x5EED,
        }),
        schedule: vec![(20, 6.0), (70, 0.0)],
    };
    let mut c = CpuSim::<f32>::new(&pop, 2, ctx.arith()).unwrap();
    c.set_drive(drive.clone()).unwrap();
    let want = c.run_driven(150, StepOptions::default()).unwrap();
    assert!(want.count() > 200, "noise drive too weak");
    let inputs = Rng(7).vec_f32(30 * 2 * n, -4.0, 4.0);
    let want_host = c.run(30, &inputs, StepOptions::default()).unwrap();
    for fused in [true, false] {
        for cache in [true, false] {
            let o = GpuOptions {
                fused,
                noise_cache: Some(cache),
                chunk_steps: 33,
                max_shard_neurons: Some(256),
                ..wide.clone()
            };
            let what = format!("noise, fused {fused}, cache {cache}");
            let mut g = GpuSim::with_drive(ctx.clone(), &pop, 2, &drive, &o).unwrap();
            assert!(g.is_wide() && g.has_noise_cache() == cache, "{what}");
            assert_eq!(
                g.run_driven(150, StepOptions::default()).unwrap(),
                want,
                "{what}"
            );
            assert_eq!(
                g.run(30, &inputs, StepOptions::default()).unwrap(),
                want_host,
                "{what}, host input"
            );
            assert_state_eq(&what, &g.state().unwrap(), &c.state());
        }
    }

    // Where it does not serve: two θ components, three currents.
    let three_currents = {
        let asc = |rate: f64| glifsim::AfterSpikeCurrent {
            rate: rate.into(),
            amp: (-0.5).into(),
            keep: 1.0.into(),
        };
        Population::builder(Model::Glif3, 1000)
            .after_spike_currents(vec![asc(0.01), asc(0.1), asc(0.3)])
            .build()
            .unwrap()
    };
    for (pop, why) in [
        (
            hetero_population(Model::Alif, 1000, 1),
            "2 threshold components",
        ),
        (three_currents, "3 after-spike currents"),
    ] {
        let g = GpuSim::with_options(ctx.clone(), &pop, 1, &GpuOptions::default()).unwrap();
        assert!(!g.is_wide(), "{why}: should take the lane kernel");
        let err = GpuSim::with_options(ctx.clone(), &pop, 1, &wide).unwrap_err();
        assert!(
            matches!(&err, glifsim::Error::Usage(m) if m.contains(why)),
            "{why}: {err}"
        );
    }
}

/// ALIF or GLIF2 with one threshold component (K = 1, the most the wide kernel serves), every
/// parameter per neuron, the spike reset factor r_1 included, so that each of a vector's four
/// neurons has its own.
fn one_component_population(model: Model, n: usize, seed: u64) -> Population {
    let mut g = Rng(seed);
    let per = |g: &mut Rng, lo: f64, hi: f64| glifsim::Param::PerNeuron(g.vec_f64(n, lo, hi));
    let mut b = Population::builder(model, n)
        .dt(0.25)
        .v_rest(per(&mut g, -72.0, -62.0))
        .t_ref(per(&mut g, 0.0, 3.0))
        .tau_m(per(&mut g, 5.0, 30.0))
        .resistance(per(&mut g, 0.5, 2.0))
        .theta_inf(per(&mut g, -55.0, -45.0))
        .adapt_increments(vec![per(&mut g, 0.5, 3.0)])
        .adapt_reset_factors(vec![per(&mut g, 0.3, 1.0)]);
    b = if model == Model::Glif2 {
        b.m_v(per(&mut g, 0.0, 0.8))
            .b_v(per(&mut g, 1.0, 8.0))
            .adapt_rates(vec![per(&mut g, 0.01, 0.1)])
    } else {
        b.v_reset(per(&mut g, -80.0, -70.0))
            .adapt_time_constants(vec![per(&mut g, 10.0, 50.0)])
    };
    b.build().unwrap()
}

/// On lavapipe the wide kernel's subgroup entry point runs with subgroups of 8 invocations,
/// one spike word each, so the part that picks byte k of each ballot for word k of a subgroup
/// is not exercised; and the lane kernel takes its workgroup entry point, since its subgroup
/// one builds words by ballot only from 32-wide subgroups. This runs
/// `wide_kernel_equals_the_cpu_path` (which also holds the lane kernel to the CPU path) again
/// in child processes at other vector widths of llvmpipe:
/// - with `GLIFSIM_LANE_BALLOT=1` at 256 and 512 bits (subgroups of 8 and 16): the lane
///   kernel's subgroup entry point meets subgroups narrower than a word, as on a driver that
///   compiles the step kernel with another size than the probe's, and must build the words
///   in workgroup memory; at 16 the wide kernel's subgroups span two words (NVIDIA's span
///   four);
/// - at 1024 bits, where Mesa 22.3 reports subgroups of 32 whose invocation ids repeat every
///   16, a layout neither ballot entry point can use: the probe must see that and fall back to
///   the workgroup entry points (trusting the reported size would drop half of every word).
///
/// Elsewhere there is nothing to do: the adapter's own subgroups ran it.
#[test]
fn ballot_entry_points_under_other_subgroup_layouts_on_lavapipe() {
    let Some(ctx) = gpu() else { return };
    if !ctx.adapter().name.starts_with("llvmpipe") || ctx.subgroup_size() != Some(8) {
        eprintln!(
            "{} (subgroup size {:?}) is not lavapipe with 8-wide subgroups: nothing to do",
            ctx.adapter().name,
            ctx.subgroup_size()
        );
        return;
    }
    let both = "wide kernel by its subgroup entry point, lane kernel by its subgroup";
    for (bits, force, expect) in [
        ("256", true, format!("subgroup size Some(8): {both}")),
        ("512", true, format!("subgroup size Some(16): {both}")),
        (
            "1024",
            false,
            "subgroup size None: wide kernel by its workgroup entry point, lane kernel by its \
             workgroup"
                .to_string(),
        ),
    ] {
        let mut env = vec![
            ("LP_NATIVE_VECTOR_WIDTH", bits),
            ("GLIFSIM_WIDE_CHILD", "1"),
        ];
        if force {
            env.push(("GLIFSIM_LANE_BALLOT", "1"));
        }
        let text = common::rerun_tests(
            &format!("the {bits}-bit child"),
            &["wide_kernel_equals_the_cpu_path"],
            &env,
        );
        assert!(
            text.contains(&format!("{bits} bits)"))
                && text.contains(&expect)
                && text.contains("1 passed"),
            "the {bits}-bit child did not run the test with '{expect}':\n{text}"
        );
    }
}

/// Which entry point the wide kernel takes: subgroupBallot on CPU drivers (where it is the
/// faster), workgroup atomics on GPUs unless `GLIFSIM_WIDE_BALLOT=1`, atomics everywhere with
/// `GLIFSIM_WIDE_BALLOT=0`. Where the adapter's subgroups serve the ballot entry point and no
/// switch is set, the entry point the default leaves out (the atomics on a CPU driver, the
/// ballots on a GPU) runs again in a child process with the switch set, held to the CPU path.
#[test]
fn wide_kernel_entry_point_by_adapter_kind() {
    let Some(ctx) = gpu() else { return };
    let fits = matches!(ctx.subgroup_size(), Some(s) if s % 8 == 0 && s <= 128);
    let switch = std::env::var("GLIFSIM_WIDE_BALLOT").ok();
    let expected = fits
        && match switch.as_deref() {
            Some("1") => true,
            Some("0") => false,
            _ => ctx.adapter().is_cpu(),
        };
    let entry = |ballot: bool| if ballot { "subgroup" } else { "workgroup" };
    assert_eq!(
        ctx.wide_ballot(),
        expected,
        "{} (subgroup size {:?}, GLIFSIM_WIDE_BALLOT {switch:?}): wrong entry point",
        ctx.adapter().name,
        ctx.subgroup_size()
    );
    if !fits || matches!(switch.as_deref(), Some("0" | "1")) {
        eprintln!(
            "{}: the wide kernel's {} entry point is the only one to run here",
            ctx.adapter().name,
            entry(ctx.wide_ballot())
        );
        return;
    }
    let other = !ctx.wide_ballot();
    let text = common::rerun_tests(
        "the other entry point's child",
        &["wide_kernel_equals_the_cpu_path"],
        &[("GLIFSIM_WIDE_BALLOT", if other { "1" } else { "0" })],
    );
    let expect = format!("wide kernel by its {} entry point", entry(other));
    assert!(
        text.contains(&expect) && text.contains("1 passed"),
        "the child did not run the wide kernel's {} entry point:\n{text}",
        entry(other)
    );
}

#[test]
fn splitting_across_buffers_equals_one_buffer() {
    let Some(ctx) = gpu() else { return };
    for model in [Model::Lif, Model::Glif2] {
        let pop = hetero_population(model, 1000, 5);
        let split = GpuOptions {
            max_shard_neurons: Some(256),
            chunk_steps: 7,
            ..Default::default()
        };
        let mut one = GpuSim::new(ctx.clone(), &pop, 2).unwrap();
        let mut many = GpuSim::with_options(ctx.clone(), &pop, 2, &split).unwrap();
        assert_eq!(one.shard_count(), 1);
        assert_eq!(many.shard_count(), 4);
        let inputs = Rng(3).vec_f32(40 * 2000, -5.0, 40.0);
        let a = one.run(40, &inputs, StepOptions::default()).unwrap();
        let b = many.run(40, &inputs, StepOptions::default()).unwrap();
        assert!(a.count() > 0);
        assert_eq!(a, b, "{model}: split run differs");
        assert_state_eq("split", &one.state().unwrap(), &many.state().unwrap());
        // And against the CPU path.
        compare(&pop, 2, 40, StepOptions::default(), &split, 3);
    }
}

#[test]
fn per_neuron_parameters_at_the_binding_limit() {
    // One per-neuron parameter over as many neurons as one binding holds: the parameter
    // region must be sized by the population, not by the largest possible shard, and the
    // population must split where the parameters no longer fit one binding.
    let Some(ctx) = gpu() else { return };
    let max = ctx.limits().max_storage_buffer_binding_size as usize / 4;
    for n in [10_000, max - 100, max + 1000] {
        let taus: Vec<f64> = (0..n).map(|i| 10.0 + (i % 7) as f64).collect();
        let pop = Population::builder(Model::Lif, n)
            .tau_m(glifsim::Param::PerNeuron(taus))
            .build()
            .unwrap();
        let opts = GpuOptions {
            host_inputs: false,
            ..Default::default()
        };
        let drive = glifsim::input::Drive {
            bias: 40.0.into(),
            ..Default::default()
        };
        let mut g = GpuSim::with_drive(ctx.clone(), &pop, 1, &drive, &opts).unwrap();
        let mut c = CpuSim::<f32>::new(&pop, 1, ctx.arith()).unwrap();
        c.set_drive(drive).unwrap();
        let steps = if n > 100_000 { 2 } else { 60 };
        assert_eq!(
            g.run_driven(steps, StepOptions::default()).unwrap(),
            c.run_driven(steps, StepOptions::default()).unwrap(),
            "n = {n}"
        );
        if n > max {
            assert!(g.shard_count() > 1, "n = {n} should need two shards");
        }
    }
}

#[test]
fn dispatch_tiling_past_65535_workgroups() {
    let Some(ctx) = gpu() else { return };
    // 17M neuron-trials = 66,407 workgroups of 256: the dispatch must be tiled in y.
    let n = 17_000_000usize;
    let max = ctx.limits().max_compute_workgroups_per_dimension as usize;
    assert!(n.div_ceil(256) > max, "population too small to need tiling");
    for model in MODELS {
        let pop = uniform_population(model, n, 0.5);
        let mut g = GpuSim::new(ctx.clone(), &pop, 1).unwrap();
        if g.shard_count() > 1 {
            // A driver whose binding limit forces a split would not tile; it must not here.
            panic!(
                "{model}: population split into {} shards; tiling not exercised",
                g.shard_count()
            );
        }
        let mut c = CpuSim::<f32>::new(&pop, 1, ctx.arith()).unwrap();
        // Inputs ramp over neurons so that spikes occur everywhere, including the last tile.
        let steps = 2;
        let inputs: Vec<f32> = (0..steps * n)
            .map(|i| 20.0 + 400.0 * ((i % n) as f32 / n as f32))
            .collect();
        let gs = g.run(steps, &inputs, StepOptions::default()).unwrap();
        let cs = c.run(steps, &inputs, StepOptions::default()).unwrap();
        assert!(
            cs.frame(steps - 1).get(0, n - 1),
            "last neuron should spike"
        );
        assert!(cs.count() > 1000);
        assert_eq!(gs, cs, "{model}: tiled dispatch differs");
        assert_state_eq(&format!("{model} tiled"), &g.state().unwrap(), &c.state());
    }
}

/// A state larger than one upload piece (4M neurons: `set_state` writes a piece at a time,
/// submitting every 256 MB) and than one readback block of `state_blocks` goes to the device
/// and comes back bit for bit: GLIF5 with θ_1, θ_v and two after-spike currents, whose
/// components the upload gathers from two arrays into the device's [C][B][n].
#[test]
fn a_state_of_more_than_one_piece_round_trips() {
    let Some(ctx) = gpu() else { return };
    let n = (4 << 20) + 37;
    let pop = glifsim::bench::bench_population(Model::Glif5, n).unwrap();
    let mut g = GpuSim::with_options(
        ctx,
        &pop,
        1,
        &GpuOptions {
            host_inputs: false,
            ..GpuOptions::default()
        },
    )
    .unwrap();
    let mut rng = Rng(5);
    let mut r = rng.vec_f32(n, -2.0, 2.0);
    r.iter_mut().for_each(|x| *x = x.max(0.0));
    let want = glifsim::State {
        v: rng.vec_f32(n, -80.0, -40.0),
        r,
        theta: rng.vec_f32(2 * n, -5.0, 5.0),
        asc: rng.vec_f32(2 * n, -1.0, 1.0),
    };
    g.set_state(&want).unwrap();
    assert_state_eq("GLIF5, 4M + 37 neurons", &g.state().unwrap(), &want);
    for a in StateArray::ALL {
        let mut got = Vec::with_capacity(want.array(a).len());
        g.state_blocks(a, 3 << 20, &mut |piece| {
            got.extend_from_slice(piece);
            Ok(())
        })
        .unwrap();
        assert!(
            got.iter()
                .zip(want.array(a))
                .all(|(x, y)| x.to_bits() == y.to_bits())
                && got.len() == want.array(a).len(),
            "{a:?} in blocks of 3M differs"
        );
    }
}

#[test]
fn single_steps_equal_a_run_and_state_round_trips() {
    let Some(ctx) = gpu() else { return };
    let pop = hetero_population(Model::Alif, 300, 9);
    let inputs = Rng(1).vec_f32(30 * 300, 0.0, 40.0);
    let mut a = GpuSim::new(ctx.clone(), &pop, 1).unwrap();
    let ra = a.run(30, &inputs, StepOptions::default()).unwrap();
    let mut b = GpuSim::new(ctx.clone(), &pop, 1).unwrap();
    for t in 0..30 {
        let f = b
            .step(&inputs[t * 300..(t + 1) * 300], StepOptions::default())
            .unwrap();
        assert_eq!(f, ra.frame(t));
    }
    assert_eq!(b.steps_done(), 30);
    // set_state / state round trip, and a rejected state leaves everything as it was.
    let s = a.state().unwrap();
    let mut bad = s.clone();
    bad.v[5] = f32::NAN;
    assert!(b.set_state(&bad).is_err());
    assert_state_eq("after rejected set_state", &b.state().unwrap(), &s);
    let mut s2 = s.clone();
    s2.v.iter_mut().for_each(|v| *v -= 1.0);
    b.set_state(&s2).unwrap();
    assert_state_eq("round trip", &b.state().unwrap(), &s2);
}

#[test]
fn state_of_and_state_blocks_read_back_the_state() {
    // The wide kernel (LIF; GLIF5 with K = 1, J = 2 and θ_v) and the lane kernel (GLIF2 with
    // K = 2), two trials; 3,001 neurons in one buffer, where listed neurons 1,024 or more apart
    // are read as separate runs, and in shards of 256, where a list spans shards; with the
    // wide kernel the last partial spike word's 25 neurons are a lane shard of their own.
    // Held to the whole state read back and cut on the host, and to the CPU path's `state_of`.
    let Some(ctx) = gpu() else { return };
    let n = 3001;
    // Repeats, any order, both ends, runs joined (3, 9, 700) and apart (700 → 1_800 → 2_975),
    // both sides of the partial word's shard (2_975 | 2_976).
    let neurons = [3000, 0, 3, 3, 9, 700, 255, 256, 1800, 2975, 2976, 2990];
    for model in [Model::Lif, Model::Glif5, Model::Glif2] {
        let pop = hetero_population(model, n, 21);
        let inputs = Rng(2).vec_f32(25 * 2 * n, 0.0, 60.0);
        let mut cpu = CpuSim::<f32>::new(&pop, 2, ctx.arith()).unwrap();
        cpu.run(25, &inputs, StepOptions::default()).unwrap();
        for shard in [None, Some(256)] {
            let gopts = GpuOptions {
                max_shard_neurons: shard,
                ..GpuOptions::default()
            };
            let mut g = GpuSim::with_options(ctx.clone(), &pop, 2, &gopts).unwrap();
            // One buffer: one shard, or a wide one and the partial word's lane shard.
            let one = if g.is_wide() { 2 } else { 1 };
            assert_eq!(
                g.shard_count() > one,
                shard.is_some(),
                "{model}: {} shards",
                g.shard_count()
            );
            g.run(25, &inputs, StepOptions::default()).unwrap();
            let what = format!("{model}, shards of {shard:?}");
            let got = g.state_of(&neurons).unwrap();
            let whole = g.state().unwrap();
            let want = select_neurons(&whole, 2, n, (pop.theta_len(), pop.j()), &neurons);
            assert_state_eq(&format!("{what}: state_of and state"), &got, &want);
            assert_state_eq(
                &format!("{what}: state_of on the GPU and the CPU"),
                &got,
                &cpu.state_of(&neurons).unwrap(),
            );
            assert!(g.state_of(&[]).unwrap().v.is_empty());
            assert!(matches!(g.state_of(&[n]), Err(glifsim::Error::Usage(_))));
            // Read back in blocks (what checkpoints write from): the same arrays, and so the
            // CPU path's, whose blocks are held to its own state.
            assert_blocks(&what, &whole, |a, m, f| g.state_blocks(a, m, f), &pop);
        }
        assert_blocks(
            &format!("{model} on the CPU"),
            &cpu.state(),
            |a, m, f| cpu.state_blocks(a, m, f),
            &pop,
        );
    }
}

/// The blocks of each array of the state, for several block sizes, concatenate to `want`'s
/// arrays bit for bit, and no block is longer than asked (or than one neuron's values).
fn assert_blocks(
    what: &str,
    want: &glifsim::State<f32>,
    blocks: impl Fn(
        StateArray,
        usize,
        &mut dyn FnMut(&[f32]) -> glifsim::Result<()>,
    ) -> glifsim::Result<()>,
    pop: &Population,
) {
    for a in StateArray::ALL {
        for max in [37, 1000, 1 << 20] {
            let mut got = Vec::new();
            let (mut pieces, longest) = (0, max.max(a.per_neuron(pop)));
            blocks(a, max, &mut |piece| {
                assert!(
                    piece.len() <= longest,
                    "{what}: {a:?} block of {}",
                    piece.len()
                );
                assert!(!piece.is_empty(), "{what}: {a:?}: an empty block");
                got.extend_from_slice(piece);
                pieces += 1;
                Ok(())
            })
            .unwrap();
            let w = want.array(a);
            assert_eq!(
                got.len(),
                w.len(),
                "{what}: {a:?} in blocks of {max}: length"
            );
            assert!(
                got.iter().zip(w).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{what}: {a:?} in blocks of {max}: first difference at {:?}",
                common::first_diff(&got, w)
            );
            assert!(
                pieces >= w.len().div_ceil(longest),
                "{what}: {a:?}: {pieces} blocks"
            );
        }
        // An error from the callee stops the walk and comes back.
        if !want.array(a).is_empty() {
            let mut calls = 0;
            let r = blocks(a, 37, &mut |_| {
                calls += 1;
                Err(glifsim::Error::Usage("stop".into()))
            });
            assert!(
                matches!(r, Err(glifsim::Error::Usage(_))) && calls == 1,
                "{what}: {a:?}"
            );
        }
    }
}

#[test]
fn bad_input_is_rejected_and_changes_nothing() {
    let Some(ctx) = gpu() else { return };
    let pop = hetero_population(Model::Lif, 100, 2);
    let mut g = GpuSim::new(ctx, &pop, 1).unwrap();
    g.run(5, &vec![30.0; 500], StepOptions::default()).unwrap();
    let before = g.state().unwrap();
    let mut bad = vec![30.0f32; 500];
    bad[321] = f32::INFINITY;
    match g.run(5, &bad, StepOptions::default()) {
        Err(glifsim::Error::NonFinite { index, .. }) => assert_eq!(index, 321),
        other => panic!("expected NonFinite, got {other:?}"),
    }
    assert!(matches!(
        g.run(5, &[1.0; 10], StepOptions::default()),
        Err(glifsim::Error::Length { .. })
    ));
    assert_eq!(g.steps_done(), 5);
    assert_state_eq("after rejected input", &g.state().unwrap(), &before);
}

/// A wait that polls the fence (`spin_wait`) returns the same spikes and state as one that
/// blocks at once, step by step (the interactive path) and in chunks, on one shared context.
#[test]
fn waiting_by_polling_equals_blocking() {
    use glifsim::input::{Drive, Noise};
    use std::time::Duration;
    let Some(ctx) = gpu() else { return };
    let own = ctx.spin_wait();
    let n = 500;
    let pop = hetero_population(Model::Lif, n, 4);
    let drive = Drive {
        bias: 12.0.into(),
        noise: Some(Noise {
            mean: 0.0.into(),
            std: 20.0.into(),
            seed: 5,
        }),
        schedule: vec![],
    };
    let mut c = CpuSim::<f32>::new(&pop, 1, ctx.arith()).unwrap();
    c.set_drive(drive.clone()).unwrap();
    let want = c.run_driven(60, StepOptions::default()).unwrap();
    assert!(want.count() > 50, "drive too weak");
    let gopts = GpuOptions {
        host_inputs: false,
        chunk_steps: 7,
        ..Default::default()
    };
    // Zero: block at once; one second: every wait here ends while polling.
    for spin in [Duration::ZERO, Duration::from_secs(1)] {
        ctx.set_spin_wait(spin);
        assert_eq!(ctx.spin_wait(), spin);
        let mut g = GpuSim::with_drive(ctx.clone(), &pop, 1, &drive, &gopts).unwrap();
        for t in 0..30 {
            let f = g.step_driven(StepOptions::default()).unwrap();
            assert_eq!(f, want.frame(t), "spin {spin:?}: step {t}");
        }
        let rest = g.run_driven(30, StepOptions::default()).unwrap();
        common::assert_continues(&format!("spin {spin:?}"), &rest, &want, 30);
        assert_state_eq(&format!("spin {spin:?}"), &g.state().unwrap(), &c.state());
    }
    ctx.set_spin_wait(own);
}

/// The noise cache (words of a Philox block kept from one dispatch, or one CPU call, to the
/// next inside a quad of steps) never serves stale noise: across single steps, runs ending
/// inside a quad, the same drive set again, a new seed, a jump of the step counter and host
/// input, every GPU variant (fused, one dispatch per step, without the cache; split shards;
/// two trials) and the CPU path equal a reference rebuilt from the state before each
/// operation, which has no cache.
#[test]
fn noise_cache_never_serves_stale_noise() {
    use glifsim::input::{Drive, Noise};
    use glifsim::State;
    let Some(ctx) = gpu() else { return };
    let (n, b) = (600, 2);
    // ALIF runs the lane kernel, LIF (600 neurons, a multiple of 4) the wide one.
    for model in [Model::Alif, Model::Lif] {
        let pop = hetero_population(model, n, 31);
        let drive = |seed| Drive {
            bias: 10.0.into(),
            noise: Some(Noise {
                mean: 0.0.into(),
                std: 25.0.into(),
                seed,
            }),
            schedule: vec![],
        };
        enum Op {
            Driven(usize),
            Steps(usize),
            Host(usize),
            Seed(u64),
            Jump(u64),
        }
        let ops = [
            Op::Driven(5), // ends at 5, inside a quad
            Op::Seed(1),   // the same drive again: nothing is rebuilt, the cache stays valid
            Op::Steps(3),  // 5, 6, 7 one at a time: words 1–3 of the cached block
            Op::Driven(6), // 8..14
            Op::Seed(2),   // a new seed at 14: the cached words are the old seed's
            Op::Steps(2),  // 14, 15
            Op::Driven(3), // 16..19
            Op::Jump(41),  // the counter jumps from 19 to 41
            Op::Steps(2),  // 41, 42
            Op::Host(3),   // 43..46 with host input too
            Op::Steps(1),  // 46
        ];
        let variants = [
            (
                "fused",
                GpuOptions {
                    chunk_steps: 7,
                    max_shard_neurons: Some(256),
                    noise_cache: Some(true),
                    ..Default::default()
                },
            ),
            (
                "per step",
                GpuOptions {
                    fused: false,
                    chunk_steps: 7,
                    noise_cache: Some(true),
                    ..Default::default()
                },
            ),
            (
                "no cache",
                GpuOptions {
                    noise_cache: Some(false),
                    ..Default::default()
                },
            ),
        ];
        let mut gpus: Vec<GpuSim> = variants
            .iter()
            .map(|(_, o)| GpuSim::with_drive(ctx.clone(), &pop, b, &drive(1), o).unwrap())
            .collect();
        assert!(
            gpus.iter().all(|g| g.is_wide() == (model == Model::Lif)),
            "{model}: not the kernel this test means to check"
        );
        let mut cpu = CpuSim::<f32>::new(&pop, b, ctx.arith()).unwrap();
        cpu.set_drive(drive(1)).unwrap();
        // The reference: state, step and drive before each operation, run by a fresh simulator.
        let (mut state, mut step, mut d): (State<f32>, u64, Drive) = (cpu.state(), 0, drive(1));
        let mut rng = Rng(3);
        let o = StepOptions::default();
        for (i, op) in ops.iter().enumerate() {
            let steps = match *op {
                Op::Seed(seed) => {
                    d = drive(seed);
                    cpu.set_drive(d.clone()).unwrap();
                    gpus.iter_mut()
                        .for_each(|g| g.set_drive(d.clone()).unwrap());
                    continue;
                }
                Op::Jump(to) => {
                    step = to;
                    cpu.set_steps_done(to);
                    gpus.iter_mut().for_each(|g| g.set_steps_done(to));
                    continue;
                }
                Op::Driven(k) | Op::Steps(k) | Op::Host(k) => k,
            };
            let host = matches!(op, Op::Host(_)).then(|| rng.vec_f32(steps * b * n, -3.0, 3.0));
            let mut fresh = CpuSim::<f32>::new(&pop, b, ctx.arith()).unwrap();
            fresh.set_drive(d.clone()).unwrap();
            fresh.set_state(state.clone()).unwrap();
            fresh.set_steps_done(step);
            let want = match &host {
                Some(x) => fresh.run(steps, x, o).unwrap(),
                None => fresh.run_driven(steps, o).unwrap(),
            };
            let label =
                |who: &str| format!("operation {i} (to step {}), {who}", step + steps as u64);
            // The CPU path and every GPU variant, the same way (one call per step for Steps).
            let mut got = vec![];
            let cpu_rec = match (&host, op) {
                (Some(x), _) => cpu.run(steps, x, o).unwrap(),
                (None, Op::Steps(_)) => {
                    let mut r = glifsim::SpikeRecord::new(b, n);
                    (0..steps).for_each(|_| r.push(&cpu.run_driven(1, o).unwrap().frame(0)));
                    r
                }
                (None, _) => cpu.run_driven(steps, o).unwrap(),
            };
            got.push(("CPU".to_string(), cpu_rec, cpu.state()));
            for (g, (name, _)) in gpus.iter_mut().zip(&variants) {
                let rec = match (&host, op) {
                    (Some(x), _) => g.run(steps, x, o).unwrap(),
                    (None, Op::Steps(_)) => {
                        let mut r = glifsim::SpikeRecord::new(b, n);
                        (0..steps).for_each(|_| r.push(&g.step_driven(o).unwrap()));
                        r
                    }
                    (None, _) => g.run_driven(steps, o).unwrap(),
                };
                got.push((format!("GPU {name}"), rec, g.state().unwrap()));
            }
            for (who, rec, st) in &got {
                common::assert_continues(&label(who), rec, &want, 0);
                assert_state_eq(&label(who), st, &fresh.state());
            }
            state = fresh.state();
            step += steps as u64;
        }
        assert!(
            state.v.iter().any(|&v| v != state.v[0]),
            "the noise did nothing"
        );
    }
}

#[test]
fn on_device_drive_equals_cpu_bit_for_bit() {
    use glifsim::input::{Drive, Noise};
    let Some(ctx) = gpu() else { return };
    for model in [Model::Lif, Model::Glif2] {
        let n = 700;
        let pop = hetero_population(model, n, 21);
        let drive = Drive {
            bias: glifsim::Param::PerNeuron(Rng(2).vec_f64(n, 5.0, 15.0)),
            noise: Some(Noise {
                mean: 3.0.into(),
                std: 8.0.into(),
                seed: 0xDEAD_BEEF_0000_0001,
            }),
            schedule: vec![(50, 10.0), (120, -3.0)],
        };
        // Split shards so the noise counter's global neuron index is exercised too.
        let gopts = GpuOptions {
            max_shard_neurons: Some(256),
            chunk_steps: 33,
            host_inputs: false,
            ..Default::default()
        };
        let mut g = GpuSim::with_drive(ctx.clone(), &pop, 2, &drive, &gopts).unwrap();
        let mut c = CpuSim::<f32>::new(&pop, 2, ctx.arith()).unwrap();
        c.set_drive(drive.clone()).unwrap();
        let gs = g.run_driven(200, StepOptions::default()).unwrap();
        let cs = c.run_driven(200, StepOptions::default()).unwrap();
        assert!(cs.count() > 100, "drive too weak");
        assert_eq!(gs, cs, "{model}: driven run differs");
        assert_state_eq("driven", &g.state().unwrap(), &c.state());
        // One dispatch per step (a noise block drawn every step) equals the fused kernel (one
        // block per quad of steps, chunks of 33 starting mid-quad).
        let per_step = GpuOptions {
            fused: false,
            ..gopts.clone()
        };
        let mut g3 = GpuSim::with_drive(ctx.clone(), &pop, 2, &drive, &per_step).unwrap();
        assert_eq!(
            g3.run_driven(200, StepOptions::default()).unwrap(),
            cs,
            "{model}: per-step"
        );
        assert_state_eq("driven, per step", &g3.state().unwrap(), &c.state());
        // Host input plus drive, continuing from step 200 (the noise counter continues too).
        let mut g2 =
            GpuSim::with_drive(ctx.clone(), &pop, 2, &drive, &GpuOptions::default()).unwrap();
        g2.set_state(&c.state()).unwrap();
        g2.set_steps_done(200);
        let inputs = Rng(8).vec_f32(40 * 2 * n, -5.0, 5.0);
        let a = g2.run(40, &inputs, StepOptions::default()).unwrap();
        let b = c.run(40, &inputs, StepOptions::default()).unwrap();
        assert_eq!(a, b, "{model}: host + drive differs");
        // Then the drive alone on the same simulator: the kernel must ignore the input rows
        // still in device memory.
        let a = g2.run_driven(30, StepOptions::default()).unwrap();
        assert_eq!(
            a,
            c.run_driven(30, StepOptions::default()).unwrap(),
            "{model}: drive after host"
        );
        assert_state_eq("drive after host", &g2.state().unwrap(), &c.state());
    }
}

#[test]
fn portable_kernel_variants_equal_the_fast_ones() {
    use glifsim::input::{Drive, Noise};
    let Some(ctx) = gpu() else { return };
    eprintln!(
        "adapter {}: ballot {}, int64 {}, immediates {}",
        ctx.adapter().name,
        ctx.uses_ballot(),
        ctx.has_int64(),
        ctx.has_immediates()
    );
    // Fused and one dispatch per step (a dispatch table of one entry per step, as immediates
    // or in the uniform buffer), LIF on the wide kernel and ALIF (two trials) on both.
    for (model, fused) in [
        (Model::Lif, true),
        (Model::Alif, true),
        (Model::Lif, false),
        (Model::Alif, false),
    ] {
        let n = 999;
        let pop = hetero_population(model, n, 31);
        let drive = Drive {
            bias: 12.0.into(),
            noise: Some(Noise {
                mean: 0.0.into(),
                std: 30.0.into(),
                seed: 5,
            }),
            schedule: vec![(30, 4.0)],
        };
        let fast = GpuOptions {
            host_inputs: false,
            fused,
            ..Default::default()
        };
        let portable = GpuOptions {
            portable: true,
            ..fast.clone()
        };
        let mut a = GpuSim::with_drive(ctx.clone(), &pop, 2, &drive, &fast).unwrap();
        let mut b = GpuSim::with_drive(ctx.clone(), &pop, 2, &drive, &portable).unwrap();
        let ra = a.run_driven(120, StepOptions::default()).unwrap();
        assert!(ra.count() > 50);
        assert_eq!(
            ra,
            b.run_driven(120, StepOptions::default()).unwrap(),
            "{model}, fused {fused}"
        );
        assert_state_eq("portable", &a.state().unwrap(), &b.state().unwrap());
    }
}

/// Device memory: a LIF neuron's state is V and r, 8 bytes (the limit), ALIF with two
/// θ components 16; a run driven on the device holds no input rows; the spike rows and their
/// staging copies are one bit per neuron and step of a chunk.
#[test]
fn device_memory_per_neuron() {
    let Some(ctx) = gpu() else { return };
    let n = 100_000u64;
    let driven = GpuOptions {
        host_inputs: false,
        ..Default::default()
    };
    let lif = Population::builder(Model::Lif, n as usize).build().unwrap();
    let g = GpuSim::with_options(ctx.clone(), &lif, 1, &driven).unwrap();
    let m = g.device_memory();
    assert_eq!(m.state, 8 * n + 16, "{m:?}");
    assert_eq!(m.inputs, 16, "{m:?}");
    let words = n.div_ceil(32) * 4;
    let chunk = g.chunk_steps() as u64;
    assert_eq!(m.spikes, words * (chunk + 1), "{m:?}");
    assert_eq!(m.staging, 2 * words * chunk, "{m:?}");
    let alif = hetero_population(Model::Alif, n as usize, 3);
    let g = GpuSim::with_options(ctx.clone(), &alif, 2, &GpuOptions::default()).unwrap();
    let m = g.device_memory();
    assert_eq!(m.state, 2 * n * 16, "{m:?}");
    assert_eq!(m.inputs, 2 * n * 4 * g.chunk_steps() as u64, "{m:?}");
    assert!(m.parameters >= 8 * n * 4, "per-neuron parameters: {m:?}");
    assert_eq!(m.noise_cache, 16, "no noise drive, no cache: {m:?}");
    // With noise and the cache: three words per neuron and trial, counted in the total.
    let drive = glifsim::input::Drive {
        noise: Some(glifsim::input::Noise {
            mean: 0.0.into(),
            std: 1.0.into(),
            seed: 1,
        }),
        ..Default::default()
    };
    for cache in [true, false] {
        let o = GpuOptions {
            noise_cache: Some(cache),
            ..driven.clone()
        };
        let g = GpuSim::with_drive(ctx.clone(), &lif, 2, &drive, &o).unwrap();
        let m = g.device_memory();
        assert_eq!(g.has_noise_cache(), cache);
        assert_eq!(m.noise_cache, if cache { 2 * n * 12 } else { 16 }, "{m:?}");
        let parts = m.state + m.parameters + m.inputs + m.spikes + m.staging + m.noise_cache;
        assert_eq!(m.total(), parts);
    }
}

/// `GpuSim::memory_needed` (what a run checks before it allocates) says what `with_drive` then
/// allocates, to within the fixed-size parts (parameter heads, the noise table, 16-byte
/// stand-ins for absent buffers), for shared and per-neuron parameters and drives, with and
/// without host input, noise and its cache, in one shard and in several.
#[test]
fn memory_needed_matches_what_is_allocated() {
    let Some(ctx) = gpu() else { return };
    let n = 100_000;
    let noise = |std: glifsim::Param| glifsim::input::Noise {
        mean: 0.0.into(),
        std,
        seed: 1,
    };
    let per_neuron =
        |x: f32| glifsim::Param::PerNeuron((0..n).map(|i| x as f64 + (i % 7) as f64).collect());
    let drives = [
        Drive::default(),
        Drive {
            bias: per_neuron(10.0),
            ..Default::default()
        },
        Drive {
            noise: Some(noise(per_neuron(1.0))),
            ..Default::default()
        },
        Drive {
            bias: 3.0.into(),
            noise: Some(noise(2.0.into())),
            ..Default::default()
        },
    ];
    let pops = [
        Population::builder(Model::Lif, n).build().unwrap(),
        hetero_population(Model::Alif, n, 3),
        hetero_population(Model::Glif5, n, 4),
    ];
    for pop in &pops {
        for drive in &drives {
            for (host_inputs, shard) in [(true, None), (false, None), (false, Some(30_000))] {
                for cache in [Some(true), Some(false)] {
                    let opts = GpuOptions {
                        host_inputs,
                        max_shard_neurons: shard,
                        noise_cache: cache,
                        ..Default::default()
                    };
                    let needed = GpuSim::memory_needed(&ctx, pop, 2, drive, &opts).unwrap();
                    let layout = GpuSim::layout(&ctx, pop, 2, drive, &opts).unwrap();
                    let g = GpuSim::with_drive(ctx.clone(), pop, 2, drive, &opts).unwrap();
                    let m = g.device_memory();
                    assert_eq!(layout.device_bytes, needed);
                    assert_eq!(
                        (layout.shards, layout.chunk_steps),
                        (g.shard_count(), g.chunk_steps())
                    );
                    let what = format!(
                        "{} bias {} noise {:?} host {host_inputs} shard {shard:?} cache {cache:?}: {needed} vs {m:?}",
                        pop.model(),
                        drive.bias.is_per_neuron(),
                        drive.noise.as_ref().map(|z| z.std.is_per_neuron()),
                    );
                    // Per shard: a parameter head and the noise table (a few KB), stand-ins.
                    let slack = g.shard_count() as u64 * 64 * 1024;
                    assert!(needed <= m.total(), "{what}");
                    assert!(m.total() <= needed + slack, "{what}");
                }
            }
        }
    }
    // A population the GPU path cannot hold at all is the same error as `with_drive`'s.
    let wide = Population::builder(Model::Alif, 10)
        .adapt_time_constants(vec![20.0.into(); 9])
        .adapt_increments(vec![1.0.into(); 9])
        .build()
        .unwrap();
    let opts = GpuOptions::default();
    assert!(matches!(
        GpuSim::memory_needed(&ctx, &wide, 1, &Drive::default(), &opts),
        Err(glifsim::Error::Usage(_))
    ));
}

#[test]
fn a_population_too_large_for_the_device_is_an_error() {
    let Some(ctx) = gpu() else { return };
    // 300 ALIF neurons with 8 components in ten million trials: hundreds of GB. The engine must
    // say how many bytes it needs against what the device offers, without allocating them.
    let pop = Population::builder(Model::Alif, 300)
        .adapt_time_constants(vec![20.0.into(); 8])
        .adapt_increments(vec![1.0.into(); 8])
        .build()
        .unwrap();
    match GpuSim::new(ctx.clone(), &pop, 10_000_000) {
        Err(glifsim::Error::TooLarge {
            needed,
            available,
            what,
        }) => {
            assert!(needed > ctx.limits().max_buffer_size);
            // Not even a shard of 256 neurons fits one storage binding (256 × 10⁷ × 8 values
            // of θ): the engine says so before it plans the rest.
            assert_eq!(
                available,
                Some(ctx.limits().max_storage_buffer_binding_size),
                "{what}"
            );
            assert!(what.contains("storage binding"), "{what}");
            assert_eq!(needed, 256 * 10_000_000 * 8 * 4, "{what}");
            assert!(needed > available.unwrap(), "{what}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // The context is still usable.
    let small = hetero_population(Model::Lif, 64, 1);
    GpuSim::new(ctx, &small, 1)
        .unwrap()
        .run(3, &[20.0; 192], StepOptions::default())
        .unwrap();
}

/// On a CPU driver, whose device memory is the host's, a population larger than the host's
/// available memory is refused before any buffer is made (it used to be allocated and then
/// killed by the kernel's out-of-memory killer). GPUs report their own allocation failures; on
/// them this test has nothing to check and says so.
#[test]
fn a_cpu_driver_refuses_a_population_larger_than_host_memory() {
    let Some(ctx) = gpu() else { return };
    if !ctx.adapter().is_cpu() {
        eprintln!(
            "SKIPPED: '{}' is not a CPU driver (the check serves CPU drivers)",
            ctx.adapter().name
        );
        return;
    }
    // 10¹¹ LIF neurons with shared parameters: cheap to describe, ~2 TB to hold.
    let pop = Population::builder(Model::Lif, 100_000_000_000)
        .build()
        .unwrap();
    match GpuSim::new(ctx.clone(), &pop, 1) {
        Err(glifsim::Error::TooLarge {
            needed,
            available,
            what,
        }) => {
            assert!(needed >= 8 * 100_000_000_000, "{needed}");
            assert!(needed > available.unwrap());
            assert!(what.contains("host memory"), "{what}");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

/// A sink that fails stops the run, and the step count still says where the state is: the
/// chunk it failed on and the one already submitted behind it have run (GPU), and a run
/// continued from there equals the CPU path continued from the same step.
#[test]
fn a_failing_sink_leaves_the_step_count_true() {
    let Some(ctx) = gpu() else { return };
    let n = 300;
    let pop = hetero_population(Model::Alif, n, 6);
    let inputs = Rng(12).vec_f32(40 * n, 0.0, 40.0);
    let o = StepOptions::default();
    let opts = GpuOptions {
        chunk_steps: 5,
        ..Default::default()
    };
    let mut g = GpuSim::with_options(ctx.clone(), &pop, 1, &opts).unwrap();
    let e = g
        .run_with(20, &inputs[..20 * n], o, |_, _| {
            Err(glifsim::Error::Usage("the sink is full".into()))
        })
        .unwrap_err();
    assert!(e.to_string().contains("the sink is full"), "{e}");
    let done = g.steps_done() as usize;
    assert_eq!(
        done, 10,
        "chunk 0 (delivered, refused) and chunk 1 (submitted) ran"
    );
    let mut c = CpuSim::<f32>::new(&pop, 1, ctx.arith()).unwrap();
    c.run(done, &inputs[..done * n], o).unwrap();
    assert_state_eq("after the failed sink", &g.state().unwrap(), &c.state());
    let a = g.run(10, &inputs[done * n..(done + 10) * n], o).unwrap();
    assert_eq!(a, c.run(10, &inputs[done * n..(done + 10) * n], o).unwrap());
}

/// A device that is lost (here destroyed, as a driver reset would) makes every later
/// operation on it an `Error::Device` that says so and what to do, never a panic: a run, a
/// single step, reading or setting the state, a new simulator. The other tests' devices are
/// their own, so they are unaffected.
#[test]
fn a_lost_device_is_an_error_everywhere_and_never_a_panic() {
    let Some(ctx) = gpu() else { return };
    let n = 1000;
    let pop = Population::builder(Model::Lif, n).build().unwrap();
    let mut g = GpuSim::new(ctx.clone(), &pop, 1).unwrap();
    let inputs = vec![20.0f32; 10 * n];
    g.run(10, &inputs, StepOptions::default()).unwrap();
    let state = g.state().unwrap();
    assert!(ctx.lost().is_none());
    ctx.device().destroy();
    let lost = |what: &str, r: glifsim::Result<()>| {
        let e = r.expect_err(what);
        let msg = e.to_string();
        assert!(
            matches!(e, glifsim::Error::Device(_))
                && msg.contains("was lost")
                && msg.contains("resume"),
            "{what}: {msg}"
        );
    };
    lost(
        "run",
        g.run(10, &inputs, StepOptions::default()).map(|_| ()),
    );
    assert!(ctx.lost().is_some_and(|w| w.contains("Destroyed")));
    lost(
        "step",
        g.step(&inputs[..n], StepOptions::default()).map(|_| ()),
    );
    lost("state", g.state().map(|_| ()));
    lost("set_state", g.set_state(&state));
    lost(
        "new simulator",
        GpuSim::new(ctx.clone(), &pop, 1).map(|_| ()),
    );
}

/// Simulators in several threads sharing one context (the documented way to embed the
/// library) each get their own results: every thread's run equals the CPU path, while the
/// threads' waits and buffer-map callbacks interleave on the one device. The waits poll
/// first (as on a GPU): polling by zero-timeout waits tripped an assertion inside wgpu-core
/// here in about one run in five, so ten rounds.
#[test]
fn threads_sharing_a_context_each_get_their_own_results() {
    let Some(ctx) = gpu() else { return };
    ctx.set_spin_wait(std::time::Duration::from_micros(200));
    for round in 0..10 {
        threads_round(&ctx, round);
    }
}

fn threads_round(ctx: &std::sync::Arc<glifsim::gpu::GpuContext>, round: u64) {
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u64)
            .map(|i| {
                let ctx = ctx.clone();
                s.spawn(move || {
                    let n = 500 + 100 * i as usize;
                    let pop = hetero_population(Model::Alif, n, 40 + i);
                    let inputs = Rng(50 + i + 10 * round).vec_f32(120 * n, 0.0, 40.0);
                    let opts = GpuOptions {
                        chunk_steps: 7,
                        ..Default::default()
                    };
                    let mut g = GpuSim::with_options(ctx.clone(), &pop, 1, &opts).unwrap();
                    let mut c = CpuSim::<f32>::new(&pop, 1, ctx.arith()).unwrap();
                    let o = StepOptions::default();
                    let got = g.run(120, &inputs, o).unwrap();
                    let want = c.run(120, &inputs, o).unwrap();
                    (got == want, g.state().unwrap(), c.state(), want.count())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, (same, gs, cs, count)) in results.iter().enumerate() {
        assert!(*count > 0, "round {round}, thread {i}: no spikes");
        assert!(same, "round {round}, thread {i}: spikes differ");
        assert_state_eq(&format!("round {round}, thread {i}"), gs, cs);
    }
}

/// `Simulator::cpu_matching` gives a CPU twin that continues exactly as the GPU simulator
/// does, drive included (it used to copy the state and step count but not the drive).
#[test]
fn cpu_matching_continues_like_the_gpu_simulator() {
    use glifsim::input::{Drive, Noise};
    use glifsim::Simulator;
    let Some(ctx) = gpu() else { return };
    let n = 400;
    let pop = hetero_population(Model::Glif2, n, 17);
    let mut g = Simulator::on_gpu(ctx.clone(), &pop, 2, &GpuOptions::default()).unwrap();
    g.set_drive(Drive {
        bias: 8.0.into(),
        noise: Some(Noise {
            mean: 0.0.into(),
            std: 25.0.into(),
            seed: 21,
        }),
        schedule: vec![(45, 6.0)],
    })
    .unwrap();
    let inputs = Rng(30).vec_f32(90 * 2 * n, -2.0, 2.0);
    let o = StepOptions::default();
    g.run(31, &inputs[..31 * 2 * n], o).unwrap();
    let mut c = g.cpu_matching().unwrap();
    assert_eq!(c.drive(), g.drive());
    let a = g.run(59, &inputs[31 * 2 * n..], o).unwrap();
    let b = c.run(59, &inputs[31 * 2 * n..], o).unwrap();
    assert!(a.count() > 0);
    assert_eq!(a, b, "the CPU twin diverged");
    assert_state_eq("CPU twin", &g.state().unwrap(), &c.state().unwrap());
}

/// Samples taken on the device within a run (`GpuSim::run_sampled`: the state of the listed
/// neurons copied after each sample step, a fused chunk cut into one dispatch per stretch
/// between samples) equal the reference: the same run cut at every sample step and read with
/// `state_of`, on the GPU (bit for bit, any arithmetic) and the spikes of one uninterrupted
/// run. Over models with 0, 1 and 5 state components, every 1, 3 and 7 steps in chunks of 10
/// (samples at chunk ends and inside), host input and noise alone, fused and per step, the
/// noise cache on and off (dispatches starting inside a quad), the dispatch table as
/// immediates and (portable) in the uniform buffer, several shards, two trials,
/// neurons listed out of order, twice, and in different shards. `Simulator::run_sampled`
/// on the CPU path gives the same samples in the separate-rounding arithmetic.
#[test]
fn samples_taken_on_the_device_equal_the_state_at_those_steps() {
    use glifsim::input::Noise;
    use glifsim::{Sampling, Simulator, SpikeRecord, State};
    let Some(ctx) = gpu() else { return };
    let n = 700;
    let steps = 45;
    let drive = |n: usize| Drive {
        bias: 6.0.into(),
        noise: Some(Noise {
            mean: 0.0.into(),
            std: glifsim::Param::PerNeuron(Rng(3).vec_f64(n, 15.0, 35.0)),
            seed: 11,
        }),
        ..Default::default()
    };
    let inputs = Rng(8).vec_f32(steps * 2 * n, 0.0, 30.0);
    let neurons = vec![699, 3, 350, 3, 0, 512];
    for model in [Model::Lif, Model::Alif, Model::Glif5] {
        let pop = hetero_population(model, n, 21);
        for every in [1u64, 3, 7] {
            let sampling = Sampling {
                neurons: neurons.clone(),
                every,
            };
            for (fused, cache, host, portable) in [
                (true, Some(true), false, false),
                (true, Some(false), true, false),
                (true, Some(true), true, true),
                (false, Some(true), false, false),
                (false, Some(false), true, true),
            ] {
                let opts = GpuOptions {
                    chunk_steps: 10,
                    max_shard_neurons: Some(256),
                    fused,
                    noise_cache: cache,
                    portable,
                    ..Default::default()
                };
                let what = format!(
                    "{model} every {every} fused {fused} cache {cache:?} host {host} portable {portable}"
                );
                let x = host.then_some(&inputs[..]);
                let make = || {
                    let mut g = GpuSim::with_drive(ctx.clone(), &pop, 2, &drive(n), &opts).unwrap();
                    // Start inside a quad and off the sampling period.
                    g.run_inner(5, None, StepOptions::default(), |_, _| Ok(()))
                        .unwrap();
                    g
                };
                // The reference: cut at every sample step, read with state_of.
                let mut g = make();
                let mut want_spikes = SpikeRecord::new(2, n);
                let mut want: Vec<(u64, State<f32>)> = Vec::new();
                let mut done = 0;
                for at in sampling
                    .steps_in(5, steps as u64)
                    .into_iter()
                    .chain([5 + steps as u64])
                {
                    let k = (at - 5) as usize - done;
                    if k > 0 {
                        let xs = x.map(|x| &x[done * 2 * n..(done + k) * 2 * n]);
                        g.run_inner(k, xs, StepOptions::default(), |_, w| {
                            want_spikes.extend_words(w);
                            Ok(())
                        })
                        .unwrap();
                        done += k;
                    }
                    if at % every == 0 && want.last().map(|w| w.0) != Some(at) {
                        want.push((at, g.state_of(&neurons).unwrap()));
                    }
                }
                assert!(want_spikes.count() > 0, "{what}: no spikes");
                // On the device, in one run.
                let mut g = make();
                let mut spikes = SpikeRecord::new(2, n);
                let mut got = Vec::new();
                g.run_sampled(
                    steps,
                    x,
                    StepOptions::default(),
                    &sampling,
                    |_, w| {
                        spikes.extend_words(w);
                        Ok(())
                    },
                    |step, st| {
                        got.push((step, st));
                        Ok(())
                    },
                )
                .unwrap();
                assert_eq!(g.steps_done(), 5 + steps as u64, "{what}");
                assert_eq!(
                    got.iter().map(|s| s.0).collect::<Vec<_>>(),
                    want.iter().map(|s| s.0).collect::<Vec<_>>(),
                    "{what}: sample steps"
                );
                for ((step, a), (_, b)) in got.iter().zip(&want) {
                    assert_state_eq(&format!("{what}, step {step}"), a, b);
                }
                assert!(spikes == want_spikes, "{what}: spikes differ");
                assert_state_eq(
                    &what,
                    &g.state().unwrap(),
                    &make_state_after(&make, x, steps),
                );
                // The CPU path through Simulator::run_sampled, in the adapter's arithmetic.
                if fused && ctx.arith() == glifsim::Arith::Separate {
                    let mut c = Simulator::new(&pop, 2, glifsim::Backend::Cpu).unwrap();
                    c.set_drive(drive(n)).unwrap();
                    c.run_driven_with(5, StepOptions::default(), |_, _| Ok(()))
                        .unwrap();
                    let mut cpu = Vec::new();
                    c.run_sampled(
                        steps,
                        x,
                        StepOptions::default(),
                        &sampling,
                        |_, _| Ok(()),
                        |step, st| {
                            cpu.push((step, st));
                            Ok(())
                        },
                    )
                    .unwrap();
                    assert_eq!(cpu.len(), got.len(), "{what}");
                    for ((step, a), (_, b)) in got.iter().zip(&cpu) {
                        assert_state_eq(&format!("{what}, CPU, step {step}"), a, b);
                    }
                }
            }
        }
    }
}

/// The state after `steps` more steps of a simulator from `make`, in one plain run.
fn make_state_after(
    make: &dyn Fn() -> GpuSim,
    x: Option<&[f32]>,
    steps: usize,
) -> glifsim::State<f32> {
    let mut g = make();
    g.run_inner(steps, x, StepOptions::default(), |_, _| Ok(()))
        .unwrap();
    g.state().unwrap()
}

/// A GPU context whose storage binding limit is the smallest glifsim accepts (256 KiB, 64K
/// values), on the adapter the other tests use.
fn small_binding_context() -> std::sync::Arc<glifsim::gpu::GpuContext> {
    let name = std::env::var("GLIFSIM_ADAPTER").ok();
    let ctx = glifsim::gpu::GpuContext::with_binding_limit(
        name.as_deref(),
        glifsim::gpu::MIN_BINDING_LIMIT,
    )
    .unwrap();
    assert_eq!(
        ctx.limits().max_storage_buffer_binding_size,
        glifsim::gpu::MIN_BINDING_LIMIT
    );
    std::sync::Arc::new(ctx)
}

#[test]
fn a_small_binding_limit_cuts_shards_and_changes_nothing() {
    // The binding limit itself (not `max_shard_neurons`) cuts these populations into shards:
    // every binding of every shard (state, per-neuron parameters, the noise cache, a chunk of
    // host input, spike rows) must fit 64K values, as a billion neurons must fit 2 GiB
    // bindings; wgpu's validation fails the run where one does not. The spikes and state are
    // the CPU path's, bit for bit.
    use glifsim::input::Noise;
    if gpu().is_none() {
        return;
    }
    let ctx = small_binding_context();
    assert!(glifsim::gpu::GpuContext::with_binding_limit(None, 1000).is_err());
    // The noise cache's three words for each of 256 neurons × 100 trials (307 KB) do not
    // fit a binding of 256 KiB: an error that says so, not a shard that breaks the limit.
    // Without the cache (V alone, 102 KB) they do.
    let lif = uniform_population(Model::Lif, 1000, 0.25);
    let cached = GpuOptions {
        noise_cache: Some(true),
        ..Default::default()
    };
    let noise = Drive {
        noise: Some(Noise {
            mean: 0.0.into(),
            std: 1.0.into(),
            seed: 1,
        }),
        ..Default::default()
    };
    match GpuSim::with_drive(ctx.clone(), &lif, 100, &noise, &cached) {
        Err(glifsim::Error::TooLarge {
            needed, available, ..
        }) => assert_eq!((needed, available), (307_200, Some(262_144))),
        other => panic!("expected TooLarge, got {:?}", other.map(|_| ())),
    }
    assert!(GpuSim::new(ctx.clone(), &lif, 100).is_ok());
    // LIF runs the wide kernel, GLIF5 (its parameters and their coefficients per neuron) the
    // lane one.
    for (model, n) in [(Model::Lif, 40_000), (Model::Glif5, 9_000)] {
        let pop = hetero_population(model, n, 9);
        let b = 2;
        let drive = Drive {
            bias: glifsim::Param::PerNeuron(Rng(4).vec_f64(n, 5.0, 15.0)),
            noise: Some(Noise {
                mean: 2.0.into(),
                std: 20.0.into(),
                seed: 77,
            }),
            schedule: vec![],
        };
        let opts = GpuOptions {
            chunk_steps: 10,
            noise_cache: Some(true),
            ..Default::default()
        };
        let mut g = GpuSim::with_drive(ctx.clone(), &pop, b, &drive, &opts).unwrap();
        // The layout said beforehand is the one built; the host assembles a chunk's spike
        // words from the shards' rows in a frame of its own.
        let l = GpuSim::layout(&ctx, &pop, b, &drive, &opts).unwrap();
        assert_eq!(
            (l.shards, l.chunk_steps),
            (g.shard_count(), g.chunk_steps()),
            "{model}"
        );
        assert_eq!(
            l.host_bytes,
            (l.chunk_steps * b * n.div_ceil(32) * 4) as u64
        );
        assert!(
            g.shard_count() >= 3,
            "{model}: {} shard(s); the limit should cut it into several",
            g.shard_count()
        );
        let mut c = CpuSim::<f32>::new(&pop, b, ctx.arith()).unwrap();
        c.set_drive(drive.clone()).unwrap();
        let o = StepOptions::default();
        let x = Rng(5).vec_f32(12 * b * n, -5.0, 5.0);
        let want = c.run(12, &x, o).unwrap();
        assert!(want.count() > 0, "{model}: no spikes");
        assert_eq!(g.run(12, &x, o).unwrap(), want, "{model}: host input");
        assert_eq!(
            g.run_driven(9, o).unwrap(),
            c.run_driven(9, o).unwrap(),
            "{model}: drive alone"
        );
        assert_state_eq(&format!("{model}"), &g.state().unwrap(), &c.state());
    }
}

#[test]
fn a_new_drive_that_cuts_other_shards_carries_the_state_over() {
    // With a binding of 64K values, 30,000 LIF neurons fit one shard without noise; the noise
    // cache (three words per neuron) needs two. `set_drive` between the two cannot keep the
    // device buffers and moves the state, step count and noise position through the host.
    use glifsim::input::Noise;
    if gpu().is_none() {
        return;
    }
    let ctx = small_binding_context();
    // Uniform parameters: per-neuron ones would take room in the binding too.
    let n = 30_000;
    let pop = uniform_population(Model::Lif, n, 0.25);
    let plain = Drive {
        bias: 12.0.into(),
        ..Default::default()
    };
    let noisy = Drive {
        noise: Some(Noise {
            mean: 0.0.into(),
            std: 30.0.into(),
            seed: 5,
        }),
        ..plain.clone()
    };
    let opts = GpuOptions {
        chunk_steps: 6,
        noise_cache: Some(true),
        ..Default::default()
    };
    let mut g = GpuSim::with_drive(ctx.clone(), &pop, 1, &plain, &opts).unwrap();
    let mut c = CpuSim::<f32>::new(&pop, 1, ctx.arith()).unwrap();
    c.set_drive(plain.clone()).unwrap();
    let o = StepOptions::default();
    let mut shards = vec![g.shard_count()];
    // 7 steps leave the noise counter inside a quad of steps.
    for (i, d) in [&plain, &noisy, &plain, &noisy].into_iter().enumerate() {
        if i > 0 {
            g.set_drive(d.clone()).unwrap();
            c.set_drive(d.clone()).unwrap();
            shards.push(g.shard_count());
        }
        let x = Rng(i as u64).vec_f32(7 * n, -2.0, 2.0);
        let want = c.run(7, &x, o).unwrap();
        assert_eq!(g.run(7, &x, o).unwrap(), want, "drive {i}, host input");
        assert_eq!(
            g.run_driven(3, o).unwrap(),
            c.run_driven(3, o).unwrap(),
            "drive {i}, drive alone"
        );
        assert_eq!(g.steps_done(), c.steps_done(), "drive {i}");
        assert_state_eq(&format!("drive {i}"), &g.state().unwrap(), &c.state());
    }
    assert_eq!(
        shards,
        [1, 2, 1, 2],
        "not the shard cuts this test means to cross"
    );
}

#[test]
fn spike_rows_grow_with_the_population_not_with_its_shards() {
    // 10⁸ LIF neurons on bindings of 64K values are 1,526 shards. Each shard alone could hold
    // 31 steps of spike rows within its binding; all of them together (each of three copies,
    // and the host's frame) are held to 256 MiB or an eighth of the rest, which allows 20.
    // Only the layout is asked for: nothing is allocated.
    if gpu().is_none() {
        return;
    }
    let ctx = small_binding_context();
    let n = 100_000_000;
    let pop = uniform_population(Model::Lif, n, 0.1);
    let opts = GpuOptions {
        host_inputs: false,
        ..Default::default()
    };
    let l = GpuSim::layout(&ctx, &pop, 1, &Drive::default(), &opts).unwrap();
    assert_eq!((l.shards, l.largest_shard), (1526, 65536));
    let frame = n.div_ceil(32) as u64 * 4; // one step's words, all shards
    assert_eq!(l.chunk_steps, 20);
    assert!((l.chunk_steps as u64 + 1) * frame <= 256 << 20);
    assert_eq!(l.host_bytes, 20 * frame);
    // State (8 bytes a neuron), three copies of 20 rows of every shard, and the parameters
    // and stand-ins, a few kilobytes a shard.
    let spikes = l.device_bytes - 8 * n as u64;
    assert!(
        spikes >= 3 * 20 * frame && spikes < 3 * 20 * frame + (16 << 20),
        "{spikes}"
    );
    // Two shards of a smaller population: each shard's binding allows 31 steps, and that is
    // all the population needs (the host's frame of 31 steps is 387,500 bytes); one shard
    // keeps the 100 steps asked for, read where the rows are mapped.
    let two = uniform_population(Model::Lif, 100_000, 0.1);
    let l2 = GpuSim::layout(&ctx, &two, 1, &Drive::default(), &opts).unwrap();
    assert_eq!(
        (l2.shards, l2.chunk_steps, l2.host_bytes),
        (2, 31, 31 * 3125 * 4)
    );
    let one = uniform_population(Model::Lif, 10_000, 0.1);
    let l1 = GpuSim::layout(&ctx, &one, 1, &Drive::default(), &opts).unwrap();
    assert_eq!((l1.shards, l1.chunk_steps, l1.host_bytes), (1, 100, 0));
}
