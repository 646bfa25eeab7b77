//! The CPU reference path against closed-form results, against itself under permutation and
//! splitting, and property tests of validation and finiteness.

mod common;

use common::{assert_state_eq, hetero_population, select_neurons, Rng};
use glifsim::{Arith, CpuSim, Error, Model, Param, Population, StepOptions};
use proptest::prelude::*;

/// Steps a refractory period lasts, counted as the spec counts it: r is decremented by Δt in the
/// simulation precision until it reaches 0, and the step where it reaches 0 is free.
fn refractory_steps(t_ref: f64, dt: f64) -> usize {
    let (mut r, mut m) = (t_ref, 0);
    loop {
        r = (r - dt).max(0.0);
        if r == 0.0 {
            return m;
        }
        m += 1;
    }
}

#[test]
fn lif_rate_matches_closed_form_interspike_interval() {
    // V after j free steps from V0: V_rest + RI + (V0 − V_rest − RI)·e^{−jΔt/τ}.
    let (dt, tau, v_rest, v_reset, v_th, t_ref, res) = (0.1, 20.0, -65.0, -70.0, -50.0, 2.0, 1.5);
    for i_in in [12.0, 15.0, 25.0, 60.0] {
        let pop = Population::builder(Model::Lif, 1)
            .dt(dt)
            .tau_m(tau)
            .v_rest(v_rest)
            .v_reset(v_reset)
            .v_th(v_th)
            .t_ref(t_ref)
            .resistance(res)
            .build()
            .unwrap();
        let mut sim = CpuSim::<f64>::new(&pop, 1, Arith::Separate).unwrap();
        let steps = 20_000;
        let rec = sim
            .run(steps, &vec![i_in; steps], StepOptions::default())
            .unwrap();
        let times: Vec<usize> = (0..steps).filter(|&t| rec.frame(t).get(0, 0)).collect();
        let ri = res * i_in;
        let free_steps = |v0: f64| ((v0 - v_rest - ri) / (v_th - v_rest - ri)).ln() / (dt / tau);
        let first = free_steps(v_rest).ceil() as usize; // spike on step index first − 1
        let isi = refractory_steps(t_ref, dt) + free_steps(v_reset).ceil() as usize;
        assert_eq!(times[0], first - 1, "I = {i_in}: first spike");
        for w in times.windows(2) {
            assert_eq!(w[1] - w[0], isi, "I = {i_in}: interspike interval");
        }
        let rate_hz = 1000.0 / (isi as f64 * dt);
        let sim_rate =
            (times.len() - 1) as f64 / ((times[times.len() - 1] - times[0]) as f64 * dt / 1000.0);
        assert!(
            (rate_hz - sim_rate).abs() < 1e-9 * rate_hz,
            "rate {sim_rate} vs {rate_hz}"
        );
    }
}

#[test]
fn refractory_counting_follows_the_precision() {
    // t_ref = 1.0, Δt = 0.1 holds 10 steps in f32 but 11 in f64 (MODELS.md).
    fn held<R: glifsim::Real>() -> usize {
        let pop = Population::builder(Model::Lif, 1)
            .dt(0.1)
            .t_ref(1.0)
            .build()
            .unwrap();
        let mut sim = CpuSim::<R>::new(&pop, 1, Arith::Separate).unwrap();
        let mut st = sim.state();
        st.r[0] = R::from_f64(1.0);
        sim.set_state(st).unwrap();
        let mut n = 0;
        while sim.r()[0] > R::ZERO {
            sim.step(&[R::ZERO], StepOptions::default()).unwrap();
            n += 1;
        }
        n
    }
    assert_eq!(held::<f32>(), 10);
    assert_eq!(held::<f64>(), 11);
}

#[test]
fn subthreshold_input_converges_to_rest_plus_ri() {
    let pop = Population::builder(Model::Lif, 3)
        .dt(0.5)
        .tau_m(10.0)
        .v_rest(-65.0)
        .v_th(-50.0)
        .resistance(Param::PerNeuron(vec![1.0, 2.0, 0.5]))
        .build()
        .unwrap();
    let mut sim = CpuSim::<f64>::new(&pop, 1, Arith::Separate).unwrap();
    let i = [10.0, 5.0, -20.0];
    let rec = sim
        .run(2000, &i.repeat(2000), StepOptions::default())
        .unwrap();
    assert_eq!(rec.count(), 0);
    for (n, (&v, r)) in sim.v().iter().zip([1.0, 2.0, 0.5]).enumerate() {
        let expect = -65.0 + r * i[n];
        assert!((v - expect).abs() < 1e-9, "neuron {n}: {v} vs {expect}");
    }
}

#[test]
fn trials_are_independent_permuting_trials_permutes_results() {
    for model in [Model::Lif, Model::Alif, Model::Glif2] {
        let pop = hetero_population(model, 40, 3);
        let (b, n, steps) = (4, 40, 200);
        let inputs = Rng(4).vec_f32(steps * b * n, 0.0, 50.0);
        let perm = [2usize, 0, 3, 1];
        let mut permuted = vec![0.0f32; inputs.len()];
        for t in 0..steps {
            for (dst, &src) in perm.iter().enumerate() {
                permuted[(t * b + dst) * n..(t * b + dst + 1) * n]
                    .copy_from_slice(&inputs[(t * b + src) * n..(t * b + src + 1) * n]);
            }
        }
        let mut a = CpuSim::<f32>::new(&pop, b, Arith::Separate).unwrap();
        let mut c = CpuSim::<f32>::new(&pop, b, Arith::Separate).unwrap();
        let ra = a.run(steps, &inputs, StepOptions::default()).unwrap();
        let rc = c.run(steps, &permuted, StepOptions::default()).unwrap();
        assert!(ra.count() > 0);
        for t in 0..steps {
            for (dst, &src) in perm.iter().enumerate() {
                assert_eq!(
                    ra.frame(t).indices(src),
                    rc.frame(t).indices(dst),
                    "{model} step {t}"
                );
            }
        }
        let k = pop.k();
        for (dst, &src) in perm.iter().enumerate() {
            assert_eq!(a.v()[src * n..(src + 1) * n], c.v()[dst * n..(dst + 1) * n]);
            assert_eq!(
                a.theta()[src * n * k..(src + 1) * n * k],
                c.theta()[dst * n * k..(dst + 1) * n * k]
            );
        }
    }
}

#[test]
fn per_neuron_parameters_equal_one_neuron_at_a_time() {
    for model in [Model::Lif, Model::Alif, Model::Glif2] {
        let n = 24;
        let pop = hetero_population(model, n, 8);
        let steps = 300;
        let inputs = Rng(5).vec_f32(steps * n, 0.0, 50.0);
        let mut all = CpuSim::<f32>::new(&pop, 1, Arith::Separate).unwrap();
        let rec = all.run(steps, &inputs, StepOptions::default()).unwrap();
        assert!(rec.count() > 0);
        for i in 0..n {
            let at = |p: &Param| p.at(i);
            let mut b = Population::builder(model, 1)
                .dt(pop.dt())
                .v_rest(at(pop.v_rest()))
                .theta_inf(at(pop.threshold()))
                .t_ref(at(pop.t_ref()))
                .tau_m(at(pop.tau_m()))
                .resistance(at(pop.resistance()));
            match model {
                Model::Glif2 => b = b.m_v(at(pop.m_v())).b_v(at(pop.b_v())),
                _ => b = b.v_reset(at(pop.v_reset())),
            }
            if model.is_adaptive() {
                b = b
                    .adapt_decay_factors(pop.decay_k().iter().map(|p| at(p).into()).collect())
                    .adapt_increments(pop.increment_k().iter().map(|p| at(p).into()).collect());
            }
            let one_pop = b.build().unwrap();
            let mut one = CpuSim::<f32>::new(&one_pop, 1, Arith::Separate).unwrap();
            let my: Vec<f32> = (0..steps).map(|t| inputs[t * n + i]).collect();
            let r1 = one.run(steps, &my, StepOptions::default()).unwrap();
            for t in 0..steps {
                assert_eq!(
                    r1.frame(t).get(0, 0),
                    rec.frame(t).get(0, i),
                    "{model} neuron {i} step {t}"
                );
            }
            assert_eq!(one.v()[0].to_bits(), all.v()[i].to_bits());
        }
    }
}

#[test]
fn parallel_blocks_equal_single_thread() {
    // 40,000 neurons runs in parallel blocks; the same neurons in chunks of 1,000 run serially.
    let n = 40_000;
    let pop = hetero_population(Model::Alif, n, 12);
    let steps = 20;
    let inputs = Rng(9).vec_f32(steps * n, 0.0, 60.0);
    let mut big = CpuSim::<f32>::new(&pop, 1, Arith::Separate).unwrap();
    let rec = big.run(steps, &inputs, StepOptions::default()).unwrap();
    assert!(rec.count() > 0);
    let mut small = CpuSim::<f32>::new(&pop, 1, Arith::Separate).unwrap();
    for t in 0..steps {
        let f = small
            .step(&inputs[t * n..(t + 1) * n], StepOptions::default())
            .unwrap();
        assert_eq!(f, rec.frame(t));
    }
}

#[test]
fn non_finite_or_misshapen_input_is_rejected_and_state_kept() {
    let pop = hetero_population(Model::Glif2, 10, 1);
    let mut sim = CpuSim::<f64>::new(&pop, 2, Arith::Separate).unwrap();
    sim.run(10, &[30.0; 200], StepOptions::default()).unwrap();
    let before = sim.state();
    let mut bad = vec![1.0; 20];
    bad[13] = f64::NAN;
    match sim.step(&bad, StepOptions::default()) {
        Err(Error::NonFinite { index: 13, .. }) => {}
        other => panic!("expected NonFinite at 13, got {other:?}"),
    }
    assert!(matches!(
        sim.step(&[1.0; 19], StepOptions::default()),
        Err(Error::Length {
            expected: 20,
            got: 19,
            ..
        })
    ));
    assert_eq!(sim.state(), before);
    assert_eq!(sim.steps_done(), 10);
}

#[test]
fn validation_names_the_parameter_and_value() {
    let e = Population::builder(Model::Lif, 3)
        .v_th(Param::PerNeuron(vec![-50.0, -70.0, -50.0]))
        .build()
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("v_rest") && msg.contains("[1]"), "{msg}");
    let e = Population::builder(Model::Alif, 3)
        .adapt_time_constants(vec![1.0.into(), (-2.0).into()])
        .adapt_increments(vec![1.0.into(), 1.0.into()])
        .build()
        .unwrap_err();
    assert!(
        e.to_string().contains("adapt_tau") && e.to_string().contains("-2"),
        "{e}"
    );
    let e = Population::builder(Model::Glif2, 3)
        .adapt_rates(vec![1.0.into()])
        .adapt_increments(vec![1.0.into()])
        .m_v(1.0)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("b_v"), "{e}");
    let e = Population::builder(Model::Lif, 3)
        .v_rest(Param::PerNeuron(vec![1.0; 2]))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Length {
                expected: 3,
                got: 2,
                ..
            }
        ),
        "{e}"
    );
}

/// A valid parameter set of `model` from random draws.
fn valid(model: Model, x: &[f64]) -> glifsim::PopulationBuilder {
    let mut b = Population::builder(model, 4)
        .dt(0.01 + x[0] * 2.0)
        .v_rest(-80.0 + 20.0 * x[1])
        .theta_inf(-40.0 + 20.0 * x[2])
        .t_ref(5.0 * x[3])
        .tau_m(0.5 + 50.0 * x[4])
        .resistance(0.1 + 5.0 * x[5]);
    if model != Model::Glif2 {
        b = b.v_reset(-90.0 + 20.0 * x[6]);
    }
    match model {
        Model::Alif => b
            .adapt_time_constants(vec![(1.0 + 100.0 * x[7]).into()])
            .adapt_increments(vec![(5.0 * x[8]).into()]),
        Model::Glif2 => b
            .adapt_rates(vec![(0.01 + x[7]).into()])
            .adapt_increments(vec![(5.0 * x[8]).into()])
            .m_v(x[9])
            .b_v(10.0 * x[9]),
        _ => b,
    }
}

fn any_model() -> impl Strategy<Value = Model> {
    prop_oneof![
        Just(Model::Lif),
        Just(Model::Glif1),
        Just(Model::Alif),
        Just(Model::Glif2)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_invalid_parameter_set_is_rejected(
        model in any_model(),
        x in prop::collection::vec(0.0f64..1.0, 10),
        which in 0usize..9,
        bad in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), -100.0f64..0.0],
    ) {
        prop_assert!(valid(model, &x).build().is_ok());
        let b = valid(model, &x);
        let broken = match which {
            0 => b.dt(bad), // Δt ≤ 0 or non-finite
            1 => b.tau_m(bad),
            2 => b.resistance(if bad.is_finite() { 0.0 } else { bad }),
            3 => b.t_ref(if bad.is_finite() { bad.min(-1e-9) } else { bad }),
            4 => b.v_rest(if bad.is_finite() { 0.0 } else { bad }), // V_rest above Θ
            5 => match model {
                Model::Glif2 => b.m_v(f64::NAN),
                _ => b.v_reset(if bad.is_finite() { -10.0 } else { bad }), // V_reset above Θ
            },
            6 => match model {
                Model::Alif => b.adapt_time_constants(vec![bad.into()]),
                Model::Glif2 => b.adapt_rates(vec![bad.into()]),
                _ => b.adapt_time_constants(vec![1.0.into()]).adapt_increments(vec![1.0.into()]), // LIF has none
            },
            7 => b.v_rest(Param::PerNeuron(vec![-70.0; 3])), // wrong length
            _ => match model {
                Model::Alif | Model::Glif2 => b.adapt_increments(vec![]), // K mismatch
                _ => b.m_v(1.0), // LIF has no m_v
            },
        };
        prop_assert!(broken.build().is_err(), "model {model} case {which} value {bad} accepted");
    }

    #[test]
    fn finite_inputs_never_produce_nan(
        model in any_model(),
        x in prop::collection::vec(0.0f64..1.0, 10),
        inputs in prop::collection::vec(-1.0e3f32..1.0e3, 4 * 50),
        lock in any::<bool>(),
    ) {
        let pop = valid(model, &x).build().unwrap();
        let mut sim = CpuSim::<f32>::new(&pop, 1, Arith::Separate).unwrap();
        let opts = StepOptions { refrac_lock: lock, ..Default::default() };
        sim.run(50, &inputs, opts).unwrap();
        let st = sim.state();
        prop_assert!(st.v.iter().chain(&st.r).chain(&st.theta).all(|v| v.is_finite()));
    }
}

#[test]
fn philox_known_answers_and_noise_statistics() {
    use glifsim::input::philox4x32_10;
    // Random123's published known-answer vectors for philox4x32-10.
    assert_eq!(
        philox4x32_10([0; 4], [0; 2]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    assert_eq!(
        philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
        philox4x32_10(
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

/// Φ(−x): the upper tail of the standard normal.
fn upper_tail(x: f64) -> f64 {
    0.5 * libm::erfc(x / std::f64::consts::SQRT_2)
}

#[test]
fn noise_values_follow_the_normal_quantile() {
    use glifsim::noise::noise_value;
    // Every cell boundary (±1) and a sweep of tail indices: the value is within 3·10⁻⁴ of
    // Φ⁻¹(1 − (q + ½)/2³²), decreases with q, and is odd in the sign bit.
    let mut qs: Vec<u32> = (0..64).collect();
    for e in 4..31 {
        for c in 0..=16u32 {
            let edge = ((16 + c) as u64) << (e - 4);
            for q in [edge.saturating_sub(1), edge, edge + 1] {
                if q < 1 << 31 {
                    qs.push(q as u32);
                }
            }
        }
    }
    let mut g = Rng(3);
    qs.extend((0..20_000).map(|_| (g.next_u64() as u32) & 0x7fff_ffff));
    qs.sort_unstable();
    qs.dedup();
    let mut worst = 0.0f64;
    let mut prev = f32::INFINITY;
    for &q in &qs {
        for arith in [Arith::Separate, Arith::Fused] {
            let x = noise_value(q, arith);
            assert_eq!(noise_value(q | 1 << 31, arith), -x, "sign of q = {q}");
            // Error in x from the error in tail probability, divided by the density.
            let p = (q as f64 + 0.5) / 4_294_967_296.0;
            let x = x as f64;
            let dens = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let err = (upper_tail(x) - p).abs() / dens;
            worst = worst.max(err);
            assert!(err < 3e-4, "q = {q}: value {x}, error {err}");
        }
        let x = noise_value(q, Arith::Separate);
        assert!(x <= prev, "not decreasing at q = {q}: {prev} then {x}");
        prev = x;
    }
    println!(
        "noise quantile: worst error {worst:.2e} over {} tail indices",
        qs.len()
    );
    assert!(noise_value(0, Arith::Separate) > 6.3);
    assert!(noise_value(0x7fff_ffff, Arith::Separate).abs() < 1e-6);
}

#[test]
fn noise_draws_are_standard_normal_and_independent() {
    use glifsim::noise::{noise_block, noise_draw, noise_gain, noise_value};
    // The four draws of a quad of steps are the four words of one block.
    for step in 8..12u64 {
        let w = noise_block(9, 5, 1, step)[(step % 4) as usize];
        assert_eq!(
            noise_draw(9, 5, 1, step, Arith::Separate),
            noise_value(w, Arith::Separate)
        );
    }
    assert_eq!(noise_block(9, 5, 1, 8), noise_block(9, 5, 1, 11));
    assert_ne!(noise_block(9, 5, 1, 8), noise_block(9, 5, 1, 12));
    // 2,000,000 draws: 1,000 neurons × 2,000 steps, scaled to unit variance.
    let gain = noise_gain(1.0);
    let (neurons, steps) = (1000u32, 2000u64);
    let xs: Vec<f64> = (0..steps)
        .flat_map(|t| (0..neurons).map(move |i| (i, t)))
        .map(|(i, t)| noise_draw(7, i, 0, t, Arith::Separate) as f64 * gain)
        .collect();
    let n = xs.len() as f64;
    let moment = |k: i32| xs.iter().map(|x| x.powi(k)).sum::<f64>() / n;
    let (mean, var) = (moment(1), moment(2));
    let skew = moment(3) / var.powf(1.5);
    let kurt = moment(4) / var.powi(2) - 3.0;
    println!("noise: mean {mean:.2e} var {var:.5} skew {skew:.2e} excess kurtosis {kurt:.2e}");
    assert!(mean.abs() < 0.003, "mean {mean}");
    assert!((var - 1.0).abs() < 0.003, "variance {var}");
    assert!(skew.abs() < 0.01, "skewness {skew}");
    assert!(kurt.abs() < 0.02, "excess kurtosis {kurt}");
    // Tails: two-sided probabilities beyond 2σ and 3σ.
    for (k, p) in [(2.0, 0.045_500_263_896), (3.0, 0.002_699_796_063)] {
        let f = xs.iter().filter(|x| x.abs() > k).count() as f64 / n;
        assert!(
            (f - p).abs() < 6.0 * (p / n).sqrt(),
            "P(|x| > {k}) = {f}, expected {p}"
        );
    }
    // Kolmogorov–Smirnov distance to Φ (the 1 % critical value at n = 2e6 is 0.00115).
    let mut sorted = xs.clone();
    sorted.sort_by(f64::total_cmp);
    let ks = sorted
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let cdf = 1.0 - upper_tail(x);
            (cdf - i as f64 / n)
                .abs()
                .max((cdf - (i + 1) as f64 / n).abs())
        })
        .fold(0.0, f64::max);
    println!("noise: Kolmogorov–Smirnov distance {ks:.2e}");
    assert!(ks < 0.00115, "KS distance {ks}");
    // No correlation between neighbouring neurons, nor between steps of one neuron, within a
    // quad (words of one block) or across quads.
    let at = |i: u32, t: u64| xs[(t * neurons as u64 + i as u64) as usize];
    let corr = |f: &dyn Fn(u32, u64) -> (f64, f64)| {
        let mut s = 0.0;
        let mut m = 0usize;
        for t in 0..steps - 4 {
            for i in 0..neurons - 1 {
                let (a, b) = f(i, t);
                s += a * b;
                m += 1;
            }
        }
        s / m as f64
    };
    for (what, c) in [
        (
            "neighbouring neurons",
            corr(&|i, t| (at(i, t), at(i + 1, t))),
        ),
        ("consecutive steps", corr(&|i, t| (at(i, t), at(i, t + 1)))),
        ("steps 4 apart", corr(&|i, t| (at(i, t), at(i, t + 4)))),
    ] {
        assert!(c.abs() < 0.004, "correlation of {what}: {c}");
    }
    // The squares are uncorrelated too (words of one block are independent, not just
    // uncorrelated).
    let sq = corr(&|i, t| (at(i, t).powi(2) - 1.0, at(i, t + 1).powi(2) - 1.0));
    assert!(
        sq.abs() < 0.01,
        "correlation of squares of consecutive steps: {sq}"
    );
}

#[test]
fn drive_is_added_as_documented() {
    use glifsim::input::Drive;
    // A constant bias is the same as the same host input.
    let pop = hetero_population(Model::Alif, 50, 4);
    let mut a = CpuSim::<f32>::new(&pop, 1, Arith::Separate).unwrap();
    a.set_drive(Drive {
        bias: 20.0.into(),
        ..Default::default()
    })
    .unwrap();
    let mut b = CpuSim::<f32>::new(&pop, 1, Arith::Separate).unwrap();
    let ra = a.run_driven(300, StepOptions::default()).unwrap();
    let rb = b
        .run(300, &vec![20.0; 300 * 50], StepOptions::default())
        .unwrap();
    assert!(ra.count() > 0);
    assert_eq!(ra, rb);
    // A schedule switches the same current on at step 100.
    let mut c = CpuSim::<f32>::new(&pop, 1, Arith::Separate).unwrap();
    c.set_drive(Drive {
        schedule: vec![(100, 20.0)],
        ..Default::default()
    })
    .unwrap();
    let rc = c.run_driven(300, StepOptions::default()).unwrap();
    let mut d = CpuSim::<f32>::new(&pop, 1, Arith::Separate).unwrap();
    let mut inp = vec![0.0; 100 * 50];
    inp.extend(vec![20.0; 200 * 50]);
    assert_eq!(rc, d.run(300, &inp, StepOptions::default()).unwrap());
    // Bad drives are refused.
    let bad = Drive {
        bias: glifsim::Param::PerNeuron(vec![1.0; 3]),
        ..Default::default()
    };
    assert!(matches!(c.set_drive(bad), Err(Error::Length { .. })));
}

#[test]
fn a_population_too_large_for_host_memory_is_an_error() {
    // 10⁷ trials × 10⁶ neurons of f64 state: 160 TB. Refused before anything is allocated.
    let pop = Population::builder(Model::Lif, 1_000_000).build().unwrap();
    match CpuSim::<f64>::new(&pop, 10_000_000, Arith::Separate) {
        Err(Error::TooLarge {
            needed,
            available: Some(avail),
            what,
        }) => {
            assert!(needed > avail, "{needed} vs {avail}");
            assert!(what.contains("host memory"));
        }
        other => panic!("expected TooLarge, got {:?}", other.map(|_| ())),
    }
}

/// A population of the vectorised kernel's shape, from `seed`; ALIF, GLIF2, GLIF4 and GLIF5
/// get one θ component (with a spike reset factor below 1 for ALIF), GLIF3–5 zero to two
/// after-spike currents (from the seed). Seeds with bit 2 set make each parameter per-neuron
/// or shared by a coin toss (the kernel's per-neuron lanes, next to shared slots).
fn vector_population(model: Model, n: usize, seed: u64) -> Population {
    vector_population_j(model, n, seed, (seed % 3) as usize, seed & 4 != 0)
}

/// `vector_population` with `j` after-spike currents for GLIF3–5, and per-neuron parameters
/// (each by a coin toss) or not.
fn vector_population_j(
    model: Model,
    n: usize,
    seed: u64,
    j: usize,
    per_neuron: bool,
) -> Population {
    let mut g = Rng(seed);
    let mut x = |lo: f64, hi: f64| -> glifsim::Param {
        if per_neuron && g.uniform(0.0, 1.0) < 0.5 {
            glifsim::Param::PerNeuron(g.vec_f64(n, lo, hi))
        } else {
            g.uniform(lo, hi).into()
        }
    };
    let mut b = Population::builder(model, n)
        .dt(0.05 + (seed % 20) as f64 * 0.05)
        .v_rest(x(-72.0, -62.0))
        .t_ref(x(0.0, 3.0))
        .tau_m(x(2.0, 30.0))
        .resistance(x(0.5, 2.0));
    b = match model {
        Model::Lif | Model::Glif1 => b.v_reset(x(-80.0, -70.0)).v_th(x(-55.0, -45.0)),
        Model::Alif => b
            .v_reset(x(-80.0, -70.0))
            .theta_inf(x(-55.0, -45.0))
            .adapt_time_constants(vec![x(5.0, 100.0)])
            .adapt_increments(vec![x(0.0, 3.0)])
            .adapt_reset_factors(vec![x(0.5, 1.0)]),
        Model::Glif3 => b.v_reset(x(-80.0, -70.0)).v_th(x(-55.0, -45.0)),
        _ => b
            .theta_inf(x(-55.0, -45.0))
            .m_v(x(0.0, 0.8))
            .b_v(x(1.0, 8.0))
            .adapt_rates(vec![x(0.01, 0.5)])
            .adapt_increments(vec![x(0.0, 3.0)]),
    };
    if model.has_asc() {
        let asc = (0..j)
            .map(|_| glifsim::AfterSpikeCurrent {
                rate: x(0.005, 0.3),
                amp: x(-3.0, 1.0),
                keep: x(0.5, 1.0),
            })
            .collect();
        b = b.after_spike_currents(asc);
    }
    if model == Model::Glif5 {
        b = b.voltage_threshold(x(0.001, 0.01), x(0.05, 0.2));
    }
    b.build().unwrap()
}

/// How the vectorised kernel's currents are formed in a comparison.
#[derive(Debug, Clone, Copy)]
struct Feed {
    /// Gaussian noise in the drive (else bias and schedule only).
    noise: bool,
    /// Host input each step (else the drive alone).
    host: bool,
}

/// Run the same population, state and inputs through the vectorised and the literal kernel
/// and require every spike and every state bit to agree, step by step.
fn vector_equals_literal<R: glifsim::Real>(
    pop: &Population,
    trials: usize,
    arith: Arith,
    opts: StepOptions,
    seed: u64,
    steps: usize,
    feed: Feed,
) {
    use glifsim::input::{Drive, Noise};
    let n = pop.len();
    let mut g = Rng(seed);
    let conv = |xs: Vec<f64>| xs.into_iter().map(R::from_f64).collect::<Vec<R>>();
    let mut init = CpuSim::<R>::new(pop, trials, arith).unwrap().state();
    // Every fifth neuron starts so far above any threshold (≤ -33 mV: Θ_∞ ≤ -45 plus θ
    // components ≤ 6 each) that it spikes in the first step even at the fastest decay
    // (dt / τ_m = 0.5, V_rest = -72: +80 → -4 mV) with the most negative current (about
    // -30 mV of R·Ĩ), so every run has spikes to compare: it is free (r = 0) at the start
    // (i % 4 == 0 for neuron 0 of trial 0). From -30 mV, as before, a GLIF5 neuron of the
    // case in tests/cpu.proptest-regressions decayed below threshold first and never spiked.
    init.v = conv(
        (0..trials * n)
            .map(|i| {
                if i % 5 == 0 {
                    80.0
                } else {
                    g.uniform(-80.0, -40.0)
                }
            })
            .collect(),
    );
    // About half the neurons start refractory, some exactly at 0 and some at t_ref.
    init.r = conv(
        (0..trials * n)
            .map(|i| match i % 4 {
                0 | 1 => 0.0,
                2 => g.uniform(0.0, 3.0),
                _ => pop.t_ref().values()[0],
            })
            .collect(),
    );
    init.theta = conv(g.vec_f64(init.theta.len(), -2.0, 6.0));
    // Every other seed gives the drive per-neuron bias and noise amplitude.
    let per_neuron = seed % 2 == 1;
    let mut param = |lo: f64, hi: f64| -> glifsim::Param {
        if per_neuron {
            glifsim::Param::PerNeuron(g.vec_f64(n, lo, hi))
        } else {
            g.uniform(lo, hi).into()
        }
    };
    let (bias, mean, std) = (param(0.0, 10.0), param(-2.0, 2.0), param(0.0, 20.0));
    let drive = Drive {
        bias,
        noise: feed.noise.then_some(Noise { mean, std, seed }),
        schedule: vec![(steps as u64 / 2, g.uniform(-5.0, 15.0))],
    };
    let inputs = conv(g.vec_f64(steps * trials * n, -10.0, 50.0));
    let mut sims = [true, false].map(|vectorised| {
        let mut s = CpuSim::<R>::new(pop, trials, arith).unwrap();
        s.set_state(init.clone()).unwrap();
        s.set_drive(drive.clone()).unwrap();
        s.set_vectorised(vectorised);
        s
    });
    assert!(sims[0].vectorised() && !sims[1].vectorised());
    let per = trials * n;
    let mut spikes = 0;
    for t in 0..steps {
        let [a, b] = &mut sims;
        let x = &inputs[t * per..(t + 1) * per];
        let (fa, fb) = if feed.host {
            (a.step(x, opts).unwrap(), b.step(x, opts).unwrap())
        } else {
            let f = |s: &mut CpuSim<R>| s.run_driven(1, opts).unwrap().frame(0);
            (f(a), f(b))
        };
        assert_eq!(fa, fb, "{} step {t}: spikes differ", pop.model().name());
        spikes += fa.count();
        assert_state_eq(
            &format!("{} step {t}", pop.model().name()),
            &a.state(),
            &b.state(),
        );
    }
    assert!(
        spikes > 0,
        "{}: no spikes, nothing compared",
        pop.model().name()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// The vectorised kernel is bit-identical to the literal `update_neuron` for every model it
    /// serves, both precisions and arithmetic modes, lock on and off, adaptation frozen or not,
    /// sizes that are and are not multiples of 32.
    #[test]
    fn vectorised_kernel_equals_literal_kernel(
        model in prop_oneof![
            Just(Model::Lif), Just(Model::Glif1), Just(Model::Alif), Just(Model::Glif2),
            Just(Model::Glif3), Just(Model::Glif4), Just(Model::Glif5),
        ],
        n in prop_oneof![Just(1usize), Just(31), Just(32), Just(33), 1usize..200],
        trials in 1usize..3,
        fused in any::<bool>(),
        refrac_lock in any::<bool>(),
        freeze_adaptation in any::<bool>(),
        noise in any::<bool>(),
        host in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let pop = vector_population(model, n, seed);
        let arith = if fused { Arith::Fused } else { Arith::Separate };
        let opts = StepOptions { refrac_lock, freeze_adaptation, check_input: true };
        let feed = Feed { noise, host };
        vector_equals_literal::<f32>(&pop, trials, arith, opts, seed, 40, feed);
        vector_equals_literal::<f64>(&pop, trials, arith, opts, seed, 40, feed);
    }
}

/// Where the processor has AVX-512, the vectorised kernel runs its AVX-512 copy, which would
/// leave the AVX2 copy untested: this runs the two tests that hold the vectorised kernel to
/// the literal one again in a child process with `GLIFSIM_NO_AVX512=1`, and checks that the
/// child ran the AVX2 copy. Elsewhere the AVX2 (or baseline) copy already ran them.
#[test]
fn vectorised_kernel_without_avx512() {
    let lif = glifsim::cpu::vector_kernel_copy();
    if std::env::var_os("GLIFSIM_NO_AVX512").is_some() {
        // The child: say which copy runs.
        eprintln!("vectorised kernel copy: {lif}");
        return;
    }
    if lif != "AVX-512" {
        eprintln!("the vectorised kernel runs the {lif} copy here: nothing to do");
        return;
    }
    let text = common::rerun_tests(
        "the child without AVX-512",
        &[
            "vectorised_kernel_equals_literal_kernel",
            "vectorised_kernel_equals_literal_kernel_in_parallel_blocks",
            "vectorised_kernel_without_avx512",
        ],
        &[("GLIFSIM_NO_AVX512", "1")],
    );
    assert!(
        text.contains("vectorised kernel copy: AVX2 + FMA") && text.contains("3 passed"),
        "the child did not run the three tests on the AVX2 copy:\n{text}"
    );
}

#[test]
fn vectorised_kernel_equals_literal_kernel_in_parallel_blocks() {
    // 40,000 neurons × 2 trials runs in parallel blocks of 4,096 with a partial last block.
    for model in [Model::Lif, Model::Alif, Model::Glif2, Model::Glif5] {
        // Shared parameters for LIF and GLIF2, some per neuron for ALIF and GLIF5.
        let per_neuron = matches!(model, Model::Alif | Model::Glif5);
        let pop = vector_population_j(model, 40_003, 5, 2, per_neuron);
        let opts = StepOptions::default();
        for (i, feed) in [(true, true), (false, true), (true, false), (false, false)]
            .into_iter()
            .enumerate()
        {
            let feed = Feed {
                noise: feed.0,
                host: feed.1,
            };
            let arith = if i % 2 == 0 {
                Arith::Separate
            } else {
                Arith::Fused
            };
            vector_equals_literal::<f32>(&pop, 2, arith, opts, 5 + i as u64, 12, feed);
        }
    }
}

#[test]
fn the_vectorised_kernel_serves_exactly_the_populations_of_its_shape() {
    let on = |pop: &Population| {
        CpuSim::<f32>::new(pop, 1, Arith::Separate)
            .unwrap()
            .vectorised()
    };
    for model in Model::ALL {
        for j in 0..=2 {
            for per_neuron in [false, true] {
                let pop = vector_population_j(model, 10, 1, j, per_neuron);
                assert!(
                    on(&pop),
                    "{} J = {j}, per-neuron {per_neuron}",
                    model.name()
                );
            }
        }
        // Every parameter per neuron: K = 2 for ALIF and GLIF2 (the literal kernel), K ≤ 1
        // and J = 2 for the others.
        let k2 = matches!(model, Model::Alif | Model::Glif2);
        assert_eq!(
            on(&hetero_population(model, 10, 1)),
            !k2,
            "{} per-neuron",
            model.name()
        );
    }
    // Two θ components or three after-spike currents: the literal kernel.
    assert!(!on(&vector_population_j(Model::Glif5, 10, 1, 3, false)));
    assert!(!on(&Population::builder(Model::Alif, 10)
        .adapt_time_constants(vec![20.0.into(), 200.0.into()])
        .adapt_increments(vec![1.0.into(), 0.1.into()])
        .build()
        .unwrap()));
}

#[test]
fn multi_step_runs_equal_single_steps() {
    use glifsim::input::{Drive, Noise};
    // A run advances each block of neurons through a chunk of steps before the next block
    // (and reuses each Philox block for four steps); stepping one step at a time must give
    // the same bits. 40,003 neurons × 2 trials: parallel blocks, a partial last block; runs
    // of 37 and 126 steps start mid-quad and cross the 100-step chunk.
    for (model, uniform) in [
        (Model::Alif, true),
        (Model::Glif2, false),
        (Model::Glif5, false),
    ] {
        let n = 40_003;
        let pop = if uniform {
            vector_population(model, n, 8)
        } else {
            hetero_population(model, n, 8)
        };
        let drive = Drive {
            bias: 40.0.into(),
            noise: Some(Noise {
                mean: 1.0.into(),
                std: 40.0.into(),
                seed: 99,
            }),
            schedule: vec![(50, 5.0)],
        };
        let make = || {
            let mut s = CpuSim::<f32>::new(&pop, 2, Arith::Separate).unwrap();
            s.set_drive(drive.clone()).unwrap();
            s
        };
        let (mut a, mut b) = (make(), make());
        let opts = StepOptions::default();
        let frames = |r: glifsim::SpikeRecord| (0..r.steps()).map(move |t| r.frame(t));
        let mut ra: Vec<_> = frames(a.run_driven(37, opts).unwrap()).collect();
        ra.extend(frames(a.run_driven(126, opts).unwrap()));
        let rb: Vec<_> = (0..163)
            .map(|_| b.run_driven(1, opts).unwrap().frame(0))
            .collect();
        let spikes: u64 = ra.iter().map(|f| f.count()).sum();
        assert!(spikes > 1000, "{model}: {spikes} spikes, too few");
        for (t, (fa, fb)) in ra.iter().zip(&rb).enumerate() {
            assert_eq!(fa, fb, "{model} step {t}");
        }
        assert_eq!(a.state(), b.state(), "{model}: state");
    }
}

/// A noise drive equals its draws given as host input (bias and mean 0, so the current is
/// the draw times the gain, rounded once either way), through single steps, runs that end
/// inside a quad of steps, a new seed and a jump of the step counter: the Philox blocks the
/// CPU path keeps from one call to the next are never stale. The reference reads no drive.
#[test]
fn noise_drive_equals_its_draws_as_host_input() {
    use glifsim::input::{Drive, Noise};
    use glifsim::noise::{noise_draw, noise_gain};
    let (n, b, std) = (70, 2, 400.0);
    let pop = hetero_population(Model::Glif2, n, 8);
    let drive = |seed| Drive {
        noise: Some(Noise {
            mean: 0.0.into(),
            std: std.into(),
            seed,
        }),
        ..Default::default()
    };
    let gain = noise_gain(std) as f32;
    let mut sim = CpuSim::<f32>::new(&pop, b, Arith::Separate).unwrap();
    let mut reference = CpuSim::<f32>::new(&pop, b, Arith::Separate).unwrap();
    let (mut seed, mut step) = (11u64, 0u64);
    sim.set_drive(drive(seed)).unwrap();
    let o = StepOptions::default();
    let mut spikes = 0;
    // (steps, one call per step?) with a new seed or a jump in between.
    for (i, (k, single)) in [
        (5, false),
        (3, true),
        (6, false),
        (0, false),
        (2, true),
        (7, false),
        (0, false),
        (3, true),
    ]
    .into_iter()
    .enumerate()
    {
        match i {
            3 => {
                seed = 12;
                sim.set_drive(drive(seed)).unwrap();
                continue;
            }
            6 => {
                step = 97;
                sim.set_steps_done(step);
                reference.set_steps_done(step);
                continue;
            }
            _ => {}
        }
        let inputs: Vec<f32> = (0..k as u64)
            .flat_map(|t| {
                (0..b as u32).flat_map(move |tr| {
                    (0..n as u32)
                        .map(move |j| noise_draw(seed, j, tr, step + t, Arith::Separate) * gain)
                })
            })
            .collect();
        let want = reference.run(k, &inputs, o).unwrap();
        let got = if single {
            let mut r = glifsim::SpikeRecord::new(b, n);
            (0..k).for_each(|_| r.push(&sim.run_driven(1, o).unwrap().frame(0)));
            r
        } else {
            sim.run_driven(k, o).unwrap()
        };
        assert_eq!(
            got,
            want,
            "operation {i} (steps {step}..{})",
            step + k as u64
        );
        assert_state_eq(&format!("operation {i}"), &sim.state(), &reference.state());
        spikes += want.count();
        step += k as u64;
    }
    assert!(spikes > 0, "the noise never made a neuron fire");
}

#[test]
fn state_of_returns_the_listed_neurons_of_every_trial() {
    // Every model's state components (θ, the after-spike currents, θ_v), two trials, after
    // steps that make the neurons differ; repeats and any order allowed.
    let n = 200;
    let neurons = [199, 0, 7, 7, 120, 3];
    for model in Model::ALL {
        let pop = hetero_population(model, n, 11);
        let mut sim = CpuSim::<f64>::new(&pop, 2, Arith::Separate).unwrap();
        let inputs = Rng(5).vec_f64(40 * 2 * n, 0.0, 60.0);
        sim.run(40, &inputs, StepOptions::default()).unwrap();
        let want = select_neurons(&sim.state(), 2, n, (pop.theta_len(), pop.j()), &neurons);
        let got = sim.state_of(&neurons).unwrap();
        assert_state_eq(&format!("{model} state_of"), &got, &want);
        assert_eq!(got.v.len(), 2 * neurons.len());
        assert!(sim.state_of(&[]).unwrap().v.is_empty());
        let err = sim.state_of(&[0, n]).unwrap_err();
        assert!(
            matches!(&err, Error::Usage(m) if m.contains("neuron 200")),
            "{err}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// `Sampling::steps_in` lists exactly the step counts in `start + 1 ..= start + steps`
    /// that are multiples of `every`.
    #[test]
    fn sampling_steps_are_the_multiples_in_the_run(
        start in 0u64..1_000,
        steps in 0u64..300,
        every in 1u64..40,
    ) {
        let s = glifsim::Sampling { neurons: vec![], every };
        let want: Vec<u64> = (start + 1..=start + steps).filter(|t| t % every == 0).collect();
        prop_assert_eq!(s.steps_in(start, steps), want);
    }

    /// `Simulator::run_sampled` on the CPU path (the run cut at every sample) gives the spikes
    /// of one step-by-step run, with each chunk's first step right, and at every sample step
    /// the state `state_of` reads there; host input sliced at the cuts, or the drive alone.
    #[test]
    fn cpu_run_sampled_equals_stepping(
        model in prop_oneof![Just(Model::Lif), Just(Model::Alif), Just(Model::Glif5)],
        start in 0usize..9,
        steps in 1usize..40,
        every in 1u64..9,
        host in any::<bool>(),
        seed in any::<u64>(),
    ) {
        use glifsim::{Backend, Sampling, Simulator, SpikeRecord};
        let n = 70;
        let pop = hetero_population(model, n, seed % 1000);
        let drive = glifsim::input::Drive {
            bias: 10.0.into(),
            noise: Some(glifsim::input::Noise { mean: 0.0.into(), std: 30.0.into(), seed }),
            ..Default::default()
        };
        let make = || {
            let mut s = Simulator::new(&pop, 2, Backend::Cpu).unwrap();
            s.set_drive(drive.clone()).unwrap();
            s.run_driven_with(start, StepOptions::default(), |_, _| Ok(())).unwrap();
            s
        };
        let x = Rng(seed).vec_f32(steps * 2 * n, 0.0, 40.0);
        let neurons = vec![69, 0, 33, 33];
        // Step by step.
        let mut a = make();
        let mut want_spikes = SpikeRecord::new(2, n);
        let mut want = Vec::new();
        for t in 0..steps {
            let sink = |_: usize, w: &[u32]| {
                want_spikes.extend_words(w);
                Ok(())
            };
            if host {
                a.run_with(1, &x[t * 2 * n..(t + 1) * 2 * n], StepOptions::default(), sink).unwrap();
            } else {
                a.run_driven_with(1, StepOptions::default(), sink).unwrap();
            }
            let at = (start + t + 1) as u64;
            if at.is_multiple_of(every) {
                want.push((at, a.state_of(&neurons).unwrap()));
            }
        }
        // Sampled.
        let mut b = make();
        let mut spikes = SpikeRecord::new(2, n);
        let mut next = 0usize;
        let mut got = Vec::new();
        b.run_sampled(
            steps,
            host.then_some(&x[..]),
            StepOptions::default(),
            &Sampling { neurons: neurons.clone(), every },
            |t0, w| {
                assert_eq!(t0, next, "chunks arrive in order, from step 0 of the run");
                next += w.len() / (2 * n.div_ceil(32));
                spikes.extend_words(w);
                Ok(())
            },
            |step, st| {
                got.push((step, st));
                Ok(())
            },
        )
        .unwrap();
        prop_assert_eq!(next, steps);
        prop_assert!(spikes == want_spikes);
        prop_assert_eq!(got.len(), want.len());
        for ((sa, a), (sb, b)) in got.iter().zip(&want) {
            prop_assert_eq!(sa, sb);
            prop_assert!(a == b, "step {}", sa);
        }
        prop_assert!(b.state().unwrap() == a.state().unwrap());
    }
}
