//! GLIF3, GLIF4, GLIF5: the exact propagator against a fine RK4 integration, the reductions to
//! LIF and GLIF2, GPU against CPU, and the AllenSDK reference fixtures.

mod common;

use common::{assert_state_eq, gpu, hetero_population, Rng};
use glifsim::gpu::{GpuOptions, GpuSim};
use glifsim::propagator::{coefficients, generator};
use glifsim::{AfterSpikeCurrent, Arith, CpuSim, Error, Model, Param, Population, StepOptions};

/// The AllenSDK fixtures, each with its spike-time tolerance in steps.
const ALLEN: [(&str, usize); 6] = [
    ("a01_glif1_step", 2),
    ("a02_glif2_step", 2),
    ("a03_glif3_step", 2),
    ("a04_glif4_step", 2),
    ("a05_glif5_step", 2),
    ("a06_glif5_noise_nocut", 5),
];

fn allen_path(name: &str) -> std::path::PathBuf {
    let root =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    std::path::PathBuf::from(root).join(format!("tests/fixtures/allen/{name}.json"))
}

/// glifsim's spike steps for an AllenSDK fixture, in f64 on the CPU path.
fn glifsim_spikes(name: &str) -> (Vec<usize>, Vec<usize>) {
    let path = allen_path(name);
    let g = glifsim::allen::load(&path, 1).unwrap();
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let stim: Vec<f64> = j["stimulus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() * 1e9)
        .collect();
    let expected: Vec<usize> = j["spike_time_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    let mut sim = CpuSim::<f64>::new(&g.population, 1, Arith::Separate).unwrap();
    sim.set_state(g.initial_state(1)).unwrap();
    let rec = sim.run(stim.len(), &stim, StepOptions::default()).unwrap();
    let got = (0..stim.len())
        .filter(|&t| rec.frame(t).get(0, 0))
        .collect();
    (got, expected)
}

#[test]
fn allen_fixtures_spike_counts_and_times() {
    // What differs from AllenSDK 2.16.2, and why spike times are compared interval by interval:
    // - AllenSDK integrates V with forward Euler: each step multiplies V∞ − V by 1 − Δt/τ
    //   instead of e^{−Δt/τ}, so V approaches its target about 0.4 % faster. Over a 300-step
    //   interval that is about one step, and it accumulates from spike to spike: no exact
    //   integrator keeps free-running spike times within two steps of Euler's over a dozen
    //   spikes (measured: glifsim's GLIF1 intervals are 315 steps, AllenSDK's 314).
    // - AllenSDK tests V > Θ strictly against the threshold at the end of the step; glifsim
    //   tests V' ≥ Θ against the threshold at the start of the step.
    // - The spike cut and the post-cut decay of the old components are matched by the loader
    //   (`allen` module docs), so the models themselves agree.
    // So: the same number of spikes, the first spike within `tol` steps, and every interspike
    // interval within `tol` steps of AllenSDK's (each spike within `tol` of where AllenSDK puts
    // it, counting from the previous spike).
    for (name, tol) in ALLEN {
        let (got, expected) = glifsim_spikes(name);
        let isi = |s: &[usize]| {
            s.windows(2)
                .map(|w| w[1] as i64 - w[0] as i64)
                .collect::<Vec<_>>()
        };
        let d: Vec<i64> = isi(&got)
            .iter()
            .zip(isi(&expected))
            .map(|(a, b)| a - b)
            .collect();
        eprintln!("{name}: glifsim {got:?}\n{name}: AllenSDK {expected:?}\n{name}: interval differences {d:?}");
        assert!(!expected.is_empty());
        assert_eq!(got.len(), expected.len(), "{name}: spike count");
        assert!(
            got[0].abs_diff(expected[0]) <= tol,
            "{name}: first spike {} vs AllenSDK {}",
            got[0],
            expected[0]
        );
        for (i, x) in d.iter().enumerate() {
            assert!(
                x.unsigned_abs() as usize <= tol,
                "{name}: interval {i} differs by {x} steps (tolerance {tol})"
            );
        }
    }
}

#[test]
fn allen_loader_maps_units_and_refuses_unknown_methods() {
    let g = glifsim::allen::load(allen_path("a05_glif5_step"), 3).unwrap();
    let p = &g.population;
    assert_eq!(p.model(), Model::Glif5);
    assert_eq!(p.len(), 3);
    assert!((p.dt() - 0.05).abs() < 1e-15);
    assert!((p.resistance().at(0) - 106.044538706).abs() < 1e-6); // MΩ
    assert!((p.tau_m().at(0) - 106.044538706 * 58.72e-3).abs() < 1e-9); // ms
    assert!((p.threshold().at(0) - 27.17).abs() < 1e-12); // mV
    assert!((p.b_v().at(0) + 18.51).abs() < 1e-12); // b is −δV
    assert_eq!(p.m_v().at(0), 0.2);
    assert!((p.t_ref().at(0) - 75.5 * 0.05).abs() < 1e-12);
    assert_eq!(p.j(), 2);
    assert!((p.after_spike_currents()[0].amp.at(0) + 0.00918).abs() < 1e-15); // nA
    assert!((p.after_spike_currents()[1].rate.at(0) - 0.1).abs() < 1e-15); // 1/ms
    let tv = p.voltage_threshold().unwrap();
    assert!((tv.a.at(0) - 0.005).abs() < 1e-15 && (tv.b.at(0) - 0.09).abs() < 1e-15);
    for (name, model) in [
        ("a01_glif1_step", Model::Glif1),
        ("a02_glif2_step", Model::Glif2),
        ("a03_glif3_step", Model::Glif3),
        ("a04_glif4_step", Model::Glif4),
    ] {
        assert_eq!(
            glifsim::allen::load(allen_path(name), 1)
                .unwrap()
                .population
                .model(),
            model
        );
    }
    // An unknown method is refused with its name and the file.
    let text = std::fs::read_to_string(allen_path("a03_glif3_step"))
        .unwrap()
        .replace("\"exp\"", "\"vector\"");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.json");
    std::fs::write(&f, text).unwrap();
    let e = glifsim::allen::load(&f, 1).unwrap_err().to_string();
    assert!(e.contains("bad.json") && e.contains("vector"), "{e}");
}

/// RK4 with `steps` substeps of the linear system z' = M z from `z0`, over Δt.
fn rk4(m: &[Vec<f64>], z0: &[f64], dt: f64, steps: usize) -> Vec<f64> {
    let n = z0.len();
    let f = |z: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| (0..n).map(|j| m[i][j] * z[j]).sum())
            .collect()
    };
    let h = dt / steps as f64;
    let mut z = z0.to_vec();
    for _ in 0..steps {
        let k1 = f(&z);
        let z2: Vec<f64> = (0..n).map(|i| z[i] + 0.5 * h * k1[i]).collect();
        let k2 = f(&z2);
        let z3: Vec<f64> = (0..n).map(|i| z[i] + 0.5 * h * k2[i]).collect();
        let k3 = f(&z3);
        let z4: Vec<f64> = (0..n).map(|i| z[i] + h * k3[i]).collect();
        let k4 = f(&z4);
        for i in 0..n {
            z[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
    }
    z
}

#[test]
fn propagator_matches_fine_rk4_including_singularities() {
    let mut g = Rng(99);
    let mut cases = Vec::new();
    for _ in 0..40 {
        let tau = g.uniform(2.0, 40.0);
        cases.push((
            g.uniform(0.01, 1.0),
            tau,
            g.uniform(0.2, 5.0),
            vec![g.uniform(0.001, 1.0), g.uniform(0.001, 1.0)],
            g.uniform(-0.05, 0.05),
            g.uniform(0.01, 1.0),
        ));
    }
    // Near and at every removable singularity: k_j·τ_m = 1, b_v·τ_m = 1, b_v = k_j.
    for eps in [0.0, 1e-12, 1e-8, 1e-5] {
        let tau = 10.0;
        cases.push((0.1, tau, 1.0, vec![1.0 / tau * (1.0 + eps), 0.3], 0.02, 0.5));
        cases.push((
            0.1,
            tau,
            1.0,
            vec![0.3, 0.05],
            0.02,
            1.0 / tau * (1.0 + eps),
        ));
        cases.push((0.1, tau, 1.0, vec![0.3, 0.05], 0.02, 0.3 * (1.0 + eps)));
        cases.push((
            0.1,
            tau,
            1.0,
            vec![1.0 / tau, 0.3],
            0.02,
            1.0 / tau * (1.0 + eps),
        )); // all at once
    }
    let mut worst = 0.0f64;
    for (dt, tau, r, k, a_v, b_v) in cases {
        let c = coefficients(dt, tau, r, &k, a_v, b_v);
        let m = generator(tau, r, &k, a_v, b_v);
        // Random initial state (u, I_1, I_2, θ_v, w); compare the propagated state.
        let z0 = [
            g.uniform(-20.0, 20.0),
            g.uniform(-2.0, 2.0),
            g.uniform(-2.0, 2.0),
            g.uniform(-5.0, 5.0),
            g.uniform(-30.0, 30.0),
        ];
        let fine = rk4(&m, &z0, dt, 1000);
        let (e, h) = ((-dt / tau).exp(), c.thv_decay);
        let u1 = z0[0] * e + z0[4] * (1.0 - e) + c.asc_gain[0] * z0[1] + c.asc_gain[1] * z0[2];
        let i1 = [z0[1] * c.asc_decay[0], z0[2] * c.asc_decay[1]];
        let th1 = z0[3] * h
            + z0[0] * c.thv_u
            + z0[4] * c.thv_w
            + c.thv_asc[0] * z0[1]
            + c.thv_asc[1] * z0[2];
        let prop = [u1, i1[0], i1[1], th1, z0[4]];
        let norm = fine.iter().map(|x| x * x).sum::<f64>().sqrt();
        let err = prop
            .iter()
            .zip(&fine)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt()
            / norm;
        worst = worst.max(err);
        assert!(
            err < 1e-9,
            "relative error {err:e} at dt={dt} tau={tau} k={k:?} b_v={b_v}"
        );
    }
    eprintln!("propagator vs RK4 (Δt/1000): worst relative error {worst:e}");
}

fn glif_population(model: Model, j: usize, a_v: f64) -> Population {
    let asc: Vec<AfterSpikeCurrent> = (0..j)
        .map(|i| AfterSpikeCurrent {
            rate: (0.05 + 0.1 * i as f64).into(),
            amp: (-1.0 - i as f64).into(),
            keep: 1.0.into(),
        })
        .collect();
    let mut b = Population::builder(model, 200).dt(0.1).t_ref(1.5);
    b = match model {
        Model::Lif | Model::Glif3 => b.v_reset(-70.0).v_th(-50.0),
        _ => b
            .theta_inf(-50.0)
            .m_v(0.3)
            .b_v(2.0)
            .adapt_rates(vec![0.02.into()])
            .adapt_increments(vec![1.5.into()]),
    };
    if model.has_asc() {
        b = b.after_spike_currents(asc);
    }
    if model == Model::Glif5 {
        b = b.voltage_threshold(a_v, 0.1);
    }
    b.build().unwrap()
}

fn run_cpu<R: glifsim::Real>(
    pop: &Population,
    inputs: &[R],
    opts: StepOptions,
) -> (glifsim::SpikeRecord, glifsim::State<R>) {
    let mut s = CpuSim::<R>::new(pop, 2, Arith::Separate).unwrap();
    let steps = inputs.len() / (2 * pop.len());
    (s.run(steps, inputs, opts).unwrap(), s.state())
}

#[test]
fn reductions_glif3_to_lif_glif4_to_glif2_glif5_to_glif4() {
    let steps = 2000;
    let inputs32 = Rng(3).vec_f32(steps * 400, 0.0, 40.0);
    let inputs64: Vec<f64> = inputs32.iter().map(|&x| x as f64).collect();
    for lock in [true, false] {
        let opts = StepOptions {
            refrac_lock: lock,
            ..Default::default()
        };
        for (a, b) in [
            (
                glif_population(Model::Glif3, 0, 0.0),
                glif_population(Model::Lif, 0, 0.0),
            ),
            (
                glif_population(Model::Glif4, 0, 0.0),
                glif_population(Model::Glif2, 0, 0.0),
            ),
            (
                glif_population(Model::Glif5, 2, 0.0),
                glif_population(Model::Glif4, 2, 0.0),
            ),
        ] {
            let (ra, sa) = run_cpu::<f32>(&a, &inputs32, opts);
            let (rb, sb) = run_cpu::<f32>(&b, &inputs32, opts);
            assert!(rb.count() > 0);
            assert_eq!(ra, rb, "{} vs {}: spikes", a.model(), b.model());
            assert_eq!(sa.v, sb.v, "{} vs {}: V", a.model(), b.model());
            assert_eq!(sa.asc, sb.asc);
            let (ra, _) = run_cpu::<f64>(&a, &inputs64, opts);
            let (rb, _) = run_cpu::<f64>(&b, &inputs64, opts);
            assert_eq!(ra, rb, "{} vs {} in f64", a.model(), b.model());
        }
    }
    // And the currents do something: GLIF3 with an inhibitory current fires less than LIF.
    let (r3, _) = run_cpu::<f32>(
        &glif_population(Model::Glif3, 2, 0.0),
        &inputs32,
        StepOptions::default(),
    );
    let (r1, _) = run_cpu::<f32>(
        &glif_population(Model::Lif, 0, 0.0),
        &inputs32,
        StepOptions::default(),
    );
    assert!(r3.count() < r1.count(), "{} vs {}", r3.count(), r1.count());
}

#[test]
fn gpu_equals_cpu_for_glif3_4_5() {
    let Some(ctx) = gpu() else { return };
    for model in [Model::Glif3, Model::Glif4, Model::Glif5] {
        let pop = hetero_population(model, 777, 40);
        for (lock, freeze) in [(true, false), (false, false), (true, true)] {
            let opts = StepOptions {
                refrac_lock: lock,
                freeze_adaptation: freeze,
                check_input: true,
            };
            for fused in [true, false] {
                let gopts = GpuOptions {
                    fused,
                    ..Default::default()
                };
                let mut g = GpuSim::with_options(ctx.clone(), &pop, 3, &gopts).unwrap();
                let mut c = CpuSim::<f32>::new(&pop, 3, ctx.arith()).unwrap();
                let inputs = Rng(6).vec_f32(250 * 3 * 777, 0.0, 60.0);
                let gs = g.run(250, &inputs, opts).unwrap();
                let cs = c.run(250, &inputs, opts).unwrap();
                assert!(cs.count() > 100, "{model}: too few spikes");
                assert_eq!(gs, cs, "{model} lock={lock} freeze={freeze} fused={fused}");
                assert_state_eq(&format!("{model}"), &g.state().unwrap(), &c.state());
            }
        }
    }
}

#[test]
fn glif_validation() {
    let asc = |k: f64| {
        vec![AfterSpikeCurrent {
            rate: k.into(),
            amp: 1.0.into(),
            keep: 1.0.into(),
        }]
    };
    let e = Population::builder(Model::Glif3, 4)
        .after_spike_currents(asc(0.0))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                name: "asc_rate",
                ..
            }
        ),
        "{e}"
    );
    let e = Population::builder(Model::Glif3, 4)
        .after_spike_currents(asc(f64::NAN))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("asc_rate"), "{e}");
    let base = || {
        Population::builder(Model::Glif5, 4)
            .theta_inf(-50.0)
            .m_v(0.5)
            .b_v(1.0)
            .adapt_rates(vec![0.1.into()])
            .adapt_increments(vec![1.0.into()])
    };
    let e = base().build().unwrap_err();
    assert!(e.to_string().contains("voltage_threshold"), "{e}");
    let e = base().voltage_threshold(0.01, -0.1).build().unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidParameter {
                name: "theta_v_b",
                ..
            }
        ),
        "{e}"
    );
    assert!(base().voltage_threshold(0.01, 0.1).build().is_ok());
    let e = Population::builder(Model::Lif, 4)
        .after_spike_currents(asc(0.1))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("after-spike"), "{e}");
    let e = Population::builder(Model::Glif3, 4)
        .after_spike_currents(vec![AfterSpikeCurrent {
            rate: Param::PerNeuron(vec![0.1; 3]),
            amp: 1.0.into(),
            keep: 1.0.into(),
        }])
        .build()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Length {
                expected: 4,
                got: 3,
                ..
            }
        ),
        "{e}"
    );
}
