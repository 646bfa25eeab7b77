//! Shared test helpers: the Inferno fixture format and GPU availability.
#![allow(dead_code)]

use glifsim::{Model, Param, Population, Real, State, StepOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One conformance case, parsed.
pub struct Fixture {
    pub path: PathBuf,
    pub name: String,
    pub dtype: String,
    pub pop: Population,
    pub trials: usize,
    pub steps: usize,
    pub opts: StepOptions,
    /// [T][B][N] flattened.
    pub inputs: Vec<f64>,
    pub initial: State<f64>,
    pub spikes: Vec<bool>,
    pub voltage: Vec<f64>,
    pub refrac: Vec<f64>,
    /// [T][B][N][K] flattened (expanded over trials).
    pub theta: Option<Vec<f64>>,
    /// [T][N]: the Θ the spike test used (adaptive models).
    pub threshold_used: Option<Vec<f64>>,
}

fn f64s(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(f64s).collect(),
        Value::Number(x) => vec![x.as_f64().unwrap()],
        Value::Bool(b) => vec![if *b { 1.0 } else { 0.0 }],
        other => panic!("unexpected JSON value {other}"),
    }
}

fn list(v: &Value) -> Vec<f64> {
    f64s(v)
}

impl Fixture {
    pub fn load(path: &Path) -> Fixture {
        let text = std::fs::read_to_string(path).unwrap();
        let j: Value = serde_json::from_str(&text).unwrap();
        let case = &j["case"];
        let p = &case["params"];
        let model: Model = case["model"].as_str().unwrap().parse().unwrap();
        let n = case["neurons"].as_u64().unwrap() as usize;
        let trials = case["batch_size"].as_u64().unwrap() as usize;
        let steps = case["steps"].as_u64().unwrap() as usize;
        let dtype = j["meta"]["dtype"].as_str().unwrap().to_string();
        let num = |k: &str| p[k].as_f64();
        let mut b = Population::builder(model, n)
            .dt(case["dt"].as_f64().unwrap())
            .v_rest(num("rest_v").unwrap())
            .t_ref(num("refrac_t").unwrap())
            .tau_m(num("time_constant").or(num("tc_membrane")).unwrap())
            .resistance(num("resistance").unwrap_or(1.0));
        let mut k = 0;
        match model {
            Model::Lif | Model::Glif1 => {
                b = b
                    .v_reset(num("reset_v").unwrap())
                    .v_th(num("thresh_v").unwrap());
            }
            Model::Glif3 | Model::Glif4 | Model::Glif5 => {
                panic!("{}: the Inferno fixtures have no {model}", path.display())
            }
            Model::Alif | Model::Glif2 => {
                if model == Model::Alif {
                    b = b.v_reset(num("reset_v").unwrap());
                } else {
                    b = b
                        .m_v(num("reset_v_mul").unwrap())
                        .b_v(num("reset_v_add").unwrap());
                }
                let decay = list(&j["derived"]["adaptation_decay"]);
                let inc = list(&p["spike_increment"]);
                k = decay.len();
                b = b
                    .theta_inf(num("thresh_eq_v").unwrap())
                    .adapt_decay_factors(decay.into_iter().map(Param::from).collect())
                    .adapt_increments(inc.into_iter().map(Param::from).collect());
            }
        }
        let pop = b.build().unwrap();
        let fwd = &case["forward"];
        let opts = StepOptions {
            refrac_lock: fwd["refrac_lock"].as_bool().unwrap_or(true),
            freeze_adaptation: case["mode"].as_str() == Some("eval")
                || fwd["adapt"].as_bool() == Some(false),
            check_input: true,
        };
        // θ: [N][K] initial, [T][N][K] per step; glifsim keeps one copy per trial.
        let expand = |per_step: Vec<f64>, t: usize| -> Vec<f64> {
            let mut out = Vec::with_capacity(t * trials * n * k);
            for s in 0..t {
                for _ in 0..trials {
                    out.extend_from_slice(&per_step[s * n * k..(s + 1) * n * k]);
                }
            }
            out
        };
        let init = &j["initial"];
        let theta0 = if k > 0 {
            expand(list(&init["threshold_adaptation"]), 1)
        } else {
            vec![]
        };
        let theta = (k > 0).then(|| expand(list(&j["threshold_adaptation"]), steps));
        Fixture {
            path: path.to_path_buf(),
            name: case["name"].as_str().unwrap().to_string(),
            dtype,
            pop,
            trials,
            steps,
            opts,
            inputs: list(&j["inputs"]),
            initial: State {
                v: list(&init["voltage"]),
                r: list(&init["refrac"]),
                theta: theta0,
                asc: vec![],
            },
            spikes: list(&j["spikes"]).into_iter().map(|x| x != 0.0).collect(),
            voltage: list(&j["voltage"]),
            refrac: list(&j["refrac"]),
            theta,
            threshold_used: (k > 0).then(|| list(&j["threshold_used"])),
        }
    }

    /// The fixture's state after step `t` (or the initial state for `t = None`).
    pub fn state_after<R: Real>(&self, t: Option<usize>) -> State<R> {
        let Some(t) = t else { return self.initial_as() };
        let bn = self.trials * self.pop.len();
        let k = self.pop.k();
        let c = |v: &[f64]| v.iter().map(|&x| R::from_f64(x)).collect();
        State {
            v: c(&self.voltage[t * bn..(t + 1) * bn]),
            r: c(&self.refrac[t * bn..(t + 1) * bn]),
            theta: self
                .theta
                .as_ref()
                .map(|th| c(&th[t * bn * k..(t + 1) * bn * k]))
                .unwrap_or_default(),
            asc: vec![],
        }
    }

    /// Θ used at step `t` for neuron `i`.
    pub fn theta_used(&self, t: usize, i: usize) -> f64 {
        match &self.threshold_used {
            Some(th) => th[t * self.pop.len() + i],
            None => self.pop.threshold().at(i),
        }
    }

    pub fn initial_as<R: Real>(&self) -> State<R> {
        let c = |v: &[f64]| v.iter().map(|&x| R::from_f64(x)).collect();
        State {
            v: c(&self.initial.v),
            r: c(&self.initial.r),
            theta: c(&self.initial.theta),
            asc: vec![],
        }
    }

    pub fn inputs_as<R: Real>(&self) -> Vec<R> {
        self.inputs.iter().map(|&x| R::from_f64(x)).collect()
    }

    /// Compare one step's outcome; returns a description of the first mismatch.
    pub fn check_step<R: Real>(
        &self,
        t: usize,
        spikes: &glifsim::SpikeFrame,
        st: &State<R>,
        check_state: bool,
    ) -> Vec<String> {
        let n = self.pop.len();
        let k = self.pop.k();
        let bn = self.trials * n;
        let mut errs = Vec::new();
        for b in 0..self.trials {
            for i in 0..n {
                let e = self.spikes[t * bn + b * n + i];
                let a = spikes.get(b, i);
                if e != a {
                    errs.push(format!(
                        "{}: step {t} trial {b} neuron {i}: spike expected {e}, got {a}",
                        self.path.display()
                    ));
                }
                if !check_state {
                    continue;
                }
                let idx = b * n + i;
                for (what, exp, act) in [
                    ("V", self.voltage[t * bn + idx], st.v[idx]),
                    ("refrac", self.refrac[t * bn + idx], st.r[idx]),
                ] {
                    if R::from_f64(exp).bits() != act.bits() {
                        errs.push(format!(
                            "{}: step {t} trial {b} neuron {i}: {what} expected {exp:e}, got {:e}",
                            self.path.display(),
                            act.to_f64()
                        ));
                    }
                }
                if let Some(th) = &self.theta {
                    for kk in 0..k {
                        let exp = th[(t * bn + idx) * k + kk];
                        let act = st.theta[idx * k + kk];
                        if R::from_f64(exp).bits() != act.bits() {
                            errs.push(format!(
                                "{}: step {t} trial {b} neuron {i}: theta[{kk}] expected {exp:e}, got {:e}",
                                self.path.display(),
                                act.to_f64()
                            ));
                        }
                    }
                }
            }
        }
        errs
    }
}

/// Every `*.json` fixture: the shipped ones, plus `GLIFSIM_FIXTURES_DIR` if set.
pub fn fixture_files() -> Vec<PathBuf> {
    // At run time cargo sets CARGO_MANIFEST_DIR; a copied test binary can be pointed at a tree.
    let root =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let mut dirs = vec![PathBuf::from(root).join("tests/fixtures/inferno")];
    if let Ok(extra) = std::env::var("GLIFSIM_FIXTURES_DIR") {
        dirs.push(PathBuf::from(extra));
    }
    let mut files = Vec::new();
    for d in dirs {
        let rd = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        let mut fs: Vec<PathBuf> = rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        fs.sort();
        files.extend(fs);
    }
    files
}

/// The GPU context for a test, or None (with a printed reason) when no adapter exists.
/// With `GLIFSIM_REQUIRE_GPU=1` a missing adapter fails the test instead.
pub fn gpu() -> Option<std::sync::Arc<glifsim::gpu::GpuContext>> {
    // glifsim's log (RUST_LOG=glifsim=trace shows every wait for the GPU), off by default.
    let _ = env_logger::builder()
        .is_test(true)
        .filter_level(log::LevelFilter::Off)
        .parse_default_env()
        .try_init();
    match glifsim::gpu::GpuContext::new() {
        Ok(c) => Some(std::sync::Arc::new(c)),
        Err(e) => {
            if std::env::var("GLIFSIM_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("GLIFSIM_REQUIRE_GPU=1 but no GPU adapter could be opened: {e}");
            }
            eprintln!("SKIPPED: GPU test not run, no GPU adapter ({e}); set GLIFSIM_REQUIRE_GPU=1 to make this a failure");
            None
        }
    }
}

/// A deterministic generator for test inputs (SplitMix64).
pub struct Rng(pub u64);
impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
    pub fn vec_f32(&mut self, len: usize, lo: f64, hi: f64) -> Vec<f32> {
        (0..len).map(|_| self.uniform(lo, hi) as f32).collect()
    }
    pub fn vec_f64(&mut self, len: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..len).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// A population of `model` with every parameter per neuron (random, valid); GLIF3–5 get two
/// after-spike currents (and θ_v for GLIF5).
pub fn hetero_population(model: Model, n: usize, seed: u64) -> Population {
    let mut g = Rng(seed);
    let mut b = Population::builder(model, n)
        .dt(0.25)
        .v_rest(Param::PerNeuron(g.vec_f64(n, -72.0, -62.0)))
        .t_ref(Param::PerNeuron(g.vec_f64(n, 0.0, 3.0)))
        .tau_m(Param::PerNeuron(g.vec_f64(n, 5.0, 30.0)))
        .resistance(Param::PerNeuron(g.vec_f64(n, 0.5, 2.0)));
    match model {
        Model::Lif | Model::Glif1 => {
            b = b
                .v_reset(Param::PerNeuron(g.vec_f64(n, -80.0, -70.0)))
                .v_th(Param::PerNeuron(g.vec_f64(n, -55.0, -45.0)));
        }
        Model::Alif => {
            b = b
                .v_reset(Param::PerNeuron(g.vec_f64(n, -80.0, -70.0)))
                .theta_inf(Param::PerNeuron(g.vec_f64(n, -55.0, -45.0)))
                .adapt_time_constants(vec![
                    Param::PerNeuron(g.vec_f64(n, 10.0, 50.0)),
                    Param::PerNeuron(g.vec_f64(n, 100.0, 500.0)),
                ])
                .adapt_increments(vec![
                    Param::PerNeuron(g.vec_f64(n, 0.5, 3.0)),
                    Param::PerNeuron(g.vec_f64(n, 0.0, 0.5)),
                ]);
        }
        Model::Glif3 | Model::Glif4 | Model::Glif5 => {
            let asc = vec![
                glifsim::AfterSpikeCurrent {
                    rate: Param::PerNeuron(g.vec_f64(n, 0.002, 0.01)),
                    amp: Param::PerNeuron(g.vec_f64(n, -0.5, 0.0)),
                    keep: 1.0.into(),
                },
                glifsim::AfterSpikeCurrent {
                    rate: Param::PerNeuron(g.vec_f64(n, 0.05, 0.2)),
                    amp: Param::PerNeuron(g.vec_f64(n, -3.0, 1.0)),
                    keep: Param::PerNeuron(g.vec_f64(n, 0.5, 1.0)),
                },
            ];
            b = b.after_spike_currents(asc);
            if model == Model::Glif3 {
                b = b
                    .v_reset(Param::PerNeuron(g.vec_f64(n, -80.0, -70.0)))
                    .v_th(Param::PerNeuron(g.vec_f64(n, -55.0, -45.0)));
            } else {
                b = b
                    .theta_inf(Param::PerNeuron(g.vec_f64(n, -55.0, -45.0)))
                    .m_v(Param::PerNeuron(g.vec_f64(n, 0.0, 0.8)))
                    .b_v(Param::PerNeuron(g.vec_f64(n, 1.0, 8.0)))
                    .adapt_rates(vec![Param::PerNeuron(g.vec_f64(n, 0.005, 0.05))])
                    .adapt_increments(vec![Param::PerNeuron(g.vec_f64(n, 0.2, 2.0))]);
            }
            if model == Model::Glif5 {
                b = b.voltage_threshold(
                    Param::PerNeuron(g.vec_f64(n, 0.001, 0.01)),
                    Param::PerNeuron(g.vec_f64(n, 0.05, 0.2)),
                );
            }
        }
        Model::Glif2 => {
            b = b
                .theta_inf(Param::PerNeuron(g.vec_f64(n, -55.0, -45.0)))
                .m_v(Param::PerNeuron(g.vec_f64(n, 0.0, 0.8)))
                .b_v(Param::PerNeuron(g.vec_f64(n, 1.0, 8.0)))
                .adapt_rates(vec![
                    Param::PerNeuron(g.vec_f64(n, 0.01, 0.1)),
                    Param::PerNeuron(g.vec_f64(n, 0.1, 1.0)),
                ])
                .adapt_increments(vec![
                    Param::PerNeuron(g.vec_f64(n, 0.5, 3.0)),
                    Param::PerNeuron(g.vec_f64(n, 0.0, 0.5)),
                ]);
        }
    }
    b.build().unwrap()
}

/// Bit-level equality of two f32 slices; returns the first differing index.
pub fn first_diff<R: Real>(a: &[R], b: &[R]) -> Option<usize> {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).position(|(x, y)| x.bits() != y.bits())
}

/// Assert two states (f32 or f64) are bit-identical, naming the first difference.
pub fn assert_state_eq<R: Real>(what: &str, a: &State<R>, b: &State<R>) {
    for (name, x, y) in [
        ("v", &a.v, &b.v),
        ("r", &a.r, &b.r),
        ("theta", &a.theta, &b.theta),
        ("asc", &a.asc, &b.asc),
    ] {
        if let Some(i) = first_diff(x, y) {
            panic!(
                "{what}: state.{name}[{i}] differs: {:e} vs {:e}",
                x[i].to_f64(),
                y[i].to_f64()
            );
        }
    }
}

/// The state of the listed neurons cut from a whole state of `trials` × `n` neurons with `tl`
/// θ values and `j` after-spike currents per neuron: what `state_of(neurons)` must return,
/// gathered independently of it.
pub fn select_neurons<R: Copy>(
    st: &State<R>,
    trials: usize,
    n: usize,
    (tl, j): (usize, usize),
    neurons: &[usize],
) -> State<R> {
    let mut out = State {
        v: vec![],
        r: vec![],
        theta: vec![],
        asc: vec![],
    };
    for t in 0..trials {
        for &i in neurons {
            let row = t * n + i;
            out.v.push(st.v[row]);
            out.r.push(st.r[row]);
            out.theta
                .extend_from_slice(&st.theta[row * tl..(row + 1) * tl]);
            out.asc.extend_from_slice(&st.asc[row * j..(row + 1) * j]);
        }
    }
    out
}

/// Every step of `got` equals step `from + t` of `want` (a continuation compared with the
/// uninterrupted run); the message names the first step that differs.
pub fn assert_continues(
    label: &str,
    got: &glifsim::SpikeRecord,
    want: &glifsim::SpikeRecord,
    from: usize,
) {
    assert!(
        from + got.steps() <= want.steps(),
        "{label}: longer than the reference"
    );
    for t in 0..got.steps() {
        assert_eq!(
            got.frame(t),
            want.frame(from + t),
            "{label}: step {}",
            from + t
        );
    }
}

/// Run the named tests of this test binary again in a child process with the environment
/// `env` added, and return what it printed (stdout, then stderr); panics, naming `what`, if
/// the child fails.
pub fn rerun_tests(what: &str, tests: &[&str], env: &[(&str, &str)]) -> String {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(tests)
        .args(["--exact", "--nocapture"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}
