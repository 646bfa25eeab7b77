//! Simulation spec files (TOML): populations, inputs, what to record.
//!
//! ```toml
//! dt = 0.1          # ms
//! duration = 500.0  # ms
//! seed = 1
//!
//! [[population]]
//! name = "exc"
//! model = "LIF"     # LIF, GLIF1, ALIF, GLIF2, GLIF3, GLIF4, GLIF5
//! neurons = 10000
//! trials = 1
//!
//! [population.params]       # numbers, per-neuron lists, or { npy = "file.npy" }
//! v_rest = -65.0
//! v_reset = -70.0
//! v_th = -50.0
//! tau_m = { npy = "tau_m.npy" }
//! t_ref = 2.0
//! # ALIF: theta_inf, adapt_tau = [...], adapt_increment = [...]; GLIF2: adapt_rate, m_v, b_v;
//! # GLIF3-5: asc_rate = [...], asc_amp = [...], asc_keep = [...]; GLIF5: theta_v_a, theta_v_b
//!
//! [population.input]        # every source is optional; they add up
//! bias = 12.0
//! noise = { mean = 0.0, std = 40.0 }   # per-step Gaussian white noise, seeded from `seed`
//! schedule = [[100.0, 5.0], [300.0, 0.0]]  # (from time in ms, current in nA)
//! npy = "current.npy"       # host array [T][N] or [T][B][N], float32 or float64
//!
//! [population.record]
//! spikes = "all"            # "all", "none", or neuron ranges [[0, 100], [500, 600]]
//! v = [0, 1, 2]             # neurons whose V is sampled
//! theta = [0]               # neurons whose θ is sampled (ALIF, GLIF2, GLIF4, GLIF5)
//! asc = [0]                 # neurons whose after-spike currents are sampled (GLIF3-5)
//! every = 10                # steps between samples
//! cv_isi = false            # keep no interspike-interval statistics (32 bytes per neuron
//!                           # and trial of host memory; the summary's CV(ISI) is then null)
//! ```
//! Errors name the file, the line and column where TOML knows them, the field and what was
//! expected.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::input::{Drive, Noise};
use crate::model::{Model, Param, Population};

/// A parsed spec file.
///
/// ```
/// use glifsim::spec::Spec;
/// let spec = Spec::parse(
///     "dt = 0.1\nduration = 500.0\nseed = 7\n[[population]]\nname = \"exc\"\nmodel = \"LIF\"\nneurons = 1000\n",
///     "run.toml".as_ref(),
/// )?;
/// assert_eq!((spec.dt, spec.duration, spec.seed, spec.steps()), (0.1, 500.0, 7, 5000));
/// assert_eq!(spec.populations[0].neurons, 1000);
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Time step Δt (ms), shared by every population.
    pub dt: f64,
    /// Simulated time (ms).
    pub duration: f64,
    /// Seed of every noise generator (population i uses seed + i).
    #[serde(default)]
    pub seed: u64,
    /// The populations.
    #[serde(rename = "population")]
    pub populations: Vec<PopulationSpec>,
    /// Directory relative paths are resolved against (the spec file's).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The spec file's path, for messages.
    #[serde(skip)]
    pub path: PathBuf,
}

/// One population in a spec.
///
/// ```
/// use glifsim::{spec::Spec, Model};
/// let spec = Spec::parse(
///     "dt = 0.1\nduration = 1.0\n[[population]]\nname = \"inh\"\nmodel = \"glif3\"\nneurons = 250\ntrials = 4\n[population.params]\nasc_rate = [0.3]\nasc_amp = [-0.2]\n",
///     "run.toml".as_ref(),
/// )?;
/// let p = &spec.populations[0];
/// assert_eq!((p.name.as_str(), p.model, p.neurons, p.trials), ("inh", Model::Glif3, 250, 4));
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationSpec {
    /// Name, used in output file names.
    pub name: String,
    /// Model.
    pub model: Model,
    /// Number of neurons.
    pub neurons: usize,
    /// Independent trials.
    #[serde(default = "one")]
    pub trials: usize,
    /// Parameters.
    #[serde(default)]
    pub params: ParamsSpec,
    /// Input sources.
    #[serde(default)]
    pub input: InputSpec,
    /// What to record.
    #[serde(default)]
    pub record: RecordSpec,
}

fn one() -> usize {
    1
}

/// A parameter value in a spec: a number, a list of per-neuron values, or an NPY file.
///
/// ```
/// use glifsim::spec::Spec;
/// let spec = Spec::parse(
///     "dt = 0.1\nduration = 1.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 2\n[population.params]\nv_rest = -70.0\ntau_m = [10.0, 20.0]\nv_th = { npy = \"vth.npy\" }\n",
///     "run.toml".as_ref(),
/// )?;
/// let p = &spec.populations[0].params;
/// assert!(matches!(p.v_rest, Some(glifsim::spec::Value::Number(_))));
/// assert!(matches!(p.tau_m, Some(glifsim::spec::Value::List(_))));
/// assert!(matches!(p.v_th, Some(glifsim::spec::Value::Npy { .. })));
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum Value {
    /// One value for every neuron.
    Number(f64),
    /// One value per neuron.
    List(Vec<f64>),
    /// One value per neuron, from a 1-D NPY file (float32 or float64).
    Npy {
        /// Path, relative to the spec file.
        npy: PathBuf,
    },
}

/// Model parameters; which ones apply depends on the model.
///
/// ```
/// use glifsim::spec::Spec;
/// let text = "dt = 0.1\nduration = 1.0\n[[population]]\nname = \"p\"\nmodel = \"ALIF\"\nneurons = 10\n[population.params]\nadapt_tau = [20.0, 200.0]\nadapt_increment = [1.0, 0.1]\n";
/// let p = &Spec::parse(text, "run.toml".as_ref())?.prepare()?[0];
/// assert_eq!(p.pop.k(), 2);
/// // A misspelled parameter is refused with the line it is on.
/// let bad = text.replace("adapt_tau", "adapt_taus");
/// assert!(Spec::parse(&bad, "run.toml".as_ref()).is_err());
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParamsSpec {
    /// V_rest (mV).
    pub v_rest: Option<Value>,
    /// V_reset (mV; LIF, GLIF1, ALIF, GLIF3).
    pub v_reset: Option<Value>,
    /// V_th (mV; LIF, GLIF1, GLIF3).
    pub v_th: Option<Value>,
    /// Θ_∞ (mV; ALIF, GLIF2, GLIF4, GLIF5).
    pub theta_inf: Option<Value>,
    /// t_ref (ms).
    pub t_ref: Option<Value>,
    /// τ_m (ms).
    pub tau_m: Option<Value>,
    /// R (MΩ).
    pub resistance: Option<Value>,
    /// m_v (GLIF2, GLIF4, GLIF5).
    pub m_v: Option<Value>,
    /// b_v (mV; GLIF2, GLIF4, GLIF5).
    pub b_v: Option<Value>,
    /// τ_k (ms; ALIF's form, for any model with threshold components).
    pub adapt_tau: Option<Vec<Value>>,
    /// λ_k (1/ms; GLIF2's form, for any model with threshold components).
    pub adapt_rate: Option<Vec<Value>>,
    /// d_k (mV).
    pub adapt_increment: Option<Vec<Value>>,
    /// r_k, the spike reset factors of the threshold components (default 1).
    pub adapt_reset: Option<Vec<Value>>,
    /// After-spike current decay rates k_j (1/ms; GLIF3–5).
    pub asc_rate: Option<Vec<Value>>,
    /// After-spike current amplitudes δI_j (nA).
    pub asc_amp: Option<Vec<Value>>,
    /// Fractions f_j of each current kept on a spike (default 1).
    pub asc_keep: Option<Vec<Value>>,
    /// GLIF5 voltage-threshold coupling a_v (1/ms).
    pub theta_v_a: Option<Value>,
    /// GLIF5 voltage-threshold decay rate b_v (1/ms).
    pub theta_v_b: Option<Value>,
}

/// Input sources of a population; they add up.
///
/// ```
/// use glifsim::spec::Spec;
/// let text = "dt = 0.1\nduration = 100.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 10\n[population.input]\nbias = 12.0\nnoise = { mean = 1.0, std = 20.0 }\nschedule = [[50.0, 5.0]]\n";
/// let d = &Spec::parse(text, "run.toml".as_ref())?.prepare()?[0].drive;
/// assert_eq!(d.bias.at(0), 12.0);
/// assert_eq!(d.schedule, vec![(500, 5.0)]); // 50 ms at Δt = 0.1 ms is step 500
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Constant bias current (nA).
    pub bias: Option<Value>,
    /// Gaussian white noise.
    pub noise: Option<NoiseSpec>,
    /// Piecewise-constant current: (from time in ms, value in nA).
    #[serde(default)]
    pub schedule: Vec<(f64, f64)>,
    /// Host array from an NPY file: `[T][N]` (every trial) or `[T][B][N]`.
    pub npy: Option<PathBuf>,
}

/// Noise parameters in a spec.
///
/// ```
/// use glifsim::spec::Spec;
/// let text = "dt = 0.1\nduration = 1.0\nseed = 100\n[[population]]\nname = \"a\"\nmodel = \"LIF\"\nneurons = 1\n[population.input]\nnoise = { std = 5.0 }\n[[population]]\nname = \"b\"\nmodel = \"LIF\"\nneurons = 1\n[population.input]\nnoise = { std = 5.0 }\n";
/// let prepared = Spec::parse(text, "run.toml".as_ref())?.prepare()?;
/// let seeds: Vec<u64> = prepared.iter().map(|p| p.drive.noise.as_ref().unwrap().seed).collect();
/// assert_eq!(seeds, vec![100, 101]); // population i draws with seed + i
/// assert_eq!(prepared[0].drive.noise.as_ref().unwrap().mean.at(0), 0.0); // the default mean
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseSpec {
    /// Mean (nA).
    #[serde(default = "zero")]
    pub mean: Value,
    /// Standard deviation per step (nA).
    pub std: Value,
}

fn zero() -> Value {
    Value::Number(0.0)
}

/// Which spikes: all, none, or neuron ranges.
///
/// ```
/// use glifsim::spec::Spec;
/// let spec = |sel: &str| format!("dt = 0.1\nduration = 1.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 100\n[population.record]\nspikes = {sel}\n");
/// let ranges = |sel: &str| -> glifsim::Result<_> {
///     Ok(Spec::parse(&spec(sel), "run.toml".as_ref())?.prepare()?[0].spike_ranges.clone())
/// };
/// assert_eq!(ranges("\"all\"")?, vec![(0, 100)]);
/// assert_eq!(ranges("\"none\"")?, vec![]);
/// assert_eq!(ranges("[[0, 10], [50, 60]]")?, vec![(0, 10), (50, 60)]);
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(untagged)]
pub enum SpikeSelection {
    /// "all" or "none".
    Word(String),
    /// Half-open neuron ranges [start, end).
    Ranges(Vec<(usize, usize)>),
}

impl Default for SpikeSelection {
    fn default() -> Self {
        SpikeSelection::Word("all".into())
    }
}

/// What to record for a population.
///
/// ```
/// use glifsim::spec::Spec;
/// let text = "dt = 0.1\nduration = 1.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 100\n[population.record]\nv = [0, 99]\nevery = 5\ncv_isi = false\n";
/// let p = &Spec::parse(text, "run.toml".as_ref())?.prepare()?[0];
/// assert_eq!((p.v.clone(), p.every, p.cv_isi), (vec![0, 99], 5, false));
/// // A neuron outside the population is refused.
/// let bad = text.replace("[0, 99]", "[0, 100]");
/// assert!(Spec::parse(&bad, "run.toml".as_ref())?.prepare().is_err());
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordSpec {
    /// Spikes to write.
    #[serde(default)]
    pub spikes: SpikeSelection,
    /// Neurons whose V is sampled.
    #[serde(default)]
    pub v: Vec<usize>,
    /// Neurons whose θ components are sampled.
    #[serde(default)]
    pub theta: Vec<usize>,
    /// Neurons whose after-spike currents are sampled (GLIF3–5).
    #[serde(default)]
    pub asc: Vec<usize>,
    /// Steps between samples (default 1).
    pub every: Option<usize>,
    /// Keep each neuron's interspike-interval statistics for the summary's CV(ISI) (default
    /// true): 32 bytes of host memory per neuron and trial, which a run of 10⁹ neurons may
    /// not have to spare.
    pub cv_isi: Option<bool>,
}

/// A population ready to simulate.
///
/// ```
/// use glifsim::{spec::Spec, Backend, Simulator, StepOptions};
/// let text = "dt = 0.1\nduration = 20.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 10\n[population.input]\nbias = 40.0\n";
/// let spec = Spec::parse(text, "run.toml".as_ref())?;
/// let p = &spec.prepare()?[0];
/// // What `glifsim run` does with it, by hand.
/// let mut sim = Simulator::new(&p.pop, p.trials, Backend::Cpu)?;
/// sim.set_drive(p.drive.clone())?;
/// let mut spikes = 0;
/// sim.run_driven_with(spec.steps(), StepOptions::default(), |_, w| {
///     spikes += w.iter().map(|x| x.count_ones()).sum::<u32>();
///     Ok(())
/// })?;
/// assert!(spikes > 0);
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PreparedPopulation {
    /// Name.
    pub name: String,
    /// The validated population.
    pub pop: Population,
    /// Trials.
    pub trials: usize,
    /// On-device input.
    pub drive: Drive,
    /// Host input, `[T][B][N]`, when an NPY file was given (and loaded: not by
    /// [`Spec::prepare_without_inputs`]).
    pub host_input: Option<Vec<f32>>,
    /// Bytes of that host input (0 without an NPY file), loaded or not.
    pub host_input_bytes: u64,
    /// Neuron ranges whose spikes are written (empty: none).
    pub spike_ranges: Vec<(usize, usize)>,
    /// Neurons whose V is sampled.
    pub v: Vec<usize>,
    /// Neurons whose θ is sampled.
    pub theta: Vec<usize>,
    /// Neurons whose after-spike currents are sampled.
    pub asc: Vec<usize>,
    /// Steps between samples.
    pub every: usize,
    /// Keep interspike-interval statistics (the summary's CV(ISI)).
    pub cv_isi: bool,
}

impl Spec {
    /// Read and check a spec file.
    ///
    /// ```
    /// use glifsim::spec::Spec;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("run.toml");
    /// std::fs::write(&path, "dt = 0.1\nduration = 1.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 1\n").unwrap();
    /// let spec = Spec::load(&path)?;
    /// assert_eq!(spec.base_dir, dir.path()); // relative paths in it resolve here
    /// assert!(Spec::load(dir.path().join("missing.toml")).is_err());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Spec> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut spec = Spec::parse(&text, path)?;
        spec.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(spec)
    }

    /// Parse spec text; `path` names it in messages.
    ///
    /// ```
    /// use glifsim::spec::Spec;
    /// let e = Spec::parse("dt = 0.1\nduration = -1.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 1\n", "run.toml".as_ref()).unwrap_err();
    /// assert!(e.to_string().contains("run.toml") && e.to_string().contains("duration"), "{e}");
    /// ```
    pub fn parse(text: &str, path: &Path) -> Result<Spec> {
        let mut spec: Spec = toml::from_str(text).map_err(|e| {
            // toml's message already says "at line L, column C" and quotes the line.
            Error::format(path, e.to_string().trim_end().to_string())
        })?;
        spec.path = path.to_path_buf();
        spec.check()?;
        Ok(spec)
    }

    fn err(&self, msg: impl Into<String>) -> Error {
        Error::format(&self.path, msg)
    }

    fn check(&self) -> Result<()> {
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return Err(self.err(format!("dt: expected a time step > 0 ms, got {}", self.dt)));
        }
        if !(self.duration.is_finite() && self.duration > 0.0) {
            return Err(self.err(format!(
                "duration: expected a simulated time > 0 ms, got {}",
                self.duration
            )));
        }
        if self.populations.is_empty() {
            return Err(self.err("expected at least one [[population]]"));
        }
        let mut names = std::collections::HashSet::new();
        for p in &self.populations {
            if !names.insert(&p.name) {
                return Err(self.err(format!("population '{}' appears twice", p.name)));
            }
            if p.name.is_empty()
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(self.err(format!(
                    "population name '{}': expected letters, digits, '_' or '-' (it names output files)",
                    p.name
                )));
            }
        }
        Ok(())
    }

    /// Number of steps: ⌈duration / dt⌉ (rounded to the nearest step when within 1e-9).
    ///
    /// ```
    /// use glifsim::spec::Spec;
    /// let steps = |dt: f64, duration: f64| -> glifsim::Result<usize> {
    ///     let text = format!("dt = {dt}\nduration = {duration}\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 1\n");
    ///     Ok(Spec::parse(&text, "run.toml".as_ref())?.steps())
    /// };
    /// assert_eq!(steps(0.1, 0.3)?, 3); // 0.3 / 0.1 = 2.9999999999999996 in f64: still 3
    /// assert_eq!(steps(0.25, 1.1)?, 5); // 4.4 steps: rounded up
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn steps(&self) -> usize {
        let x = self.duration / self.dt;
        let r = x.round();
        if (x - r).abs() < 1e-9 * r.max(1.0) {
            r as usize
        } else {
            x.ceil() as usize
        }
    }

    /// Load parameter files and build every population (validating the parameters).
    ///
    /// ```
    /// use glifsim::spec::Spec;
    /// let text = "dt = 0.1\nduration = 1.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 3\n[population.params]\ntau_m = [10.0, -5.0, 10.0]\n";
    /// let e = Spec::parse(text, "run.toml".as_ref())?.prepare().unwrap_err();
    /// assert!(e.to_string().contains("tau_m"), "{e}"); // the rule broken, the neuron, the value
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn prepare(&self) -> Result<Vec<PreparedPopulation>> {
        self.prepare_with(true)
    }

    /// [`Spec::prepare`] without loading the host input files: each is checked by its header
    /// (dtype, shape, length) and its size given in `host_input_bytes`, `host_input` left
    /// empty. For a dry run ([`crate::run::dry_run`]), which must not itself hold what it
    /// warns about.
    ///
    /// ```
    /// use glifsim::{record::NpyStream, spec::Spec};
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut s = NpyStream::create(&dir.path().join("x.npy"), "<f4", &[4])?;
    /// s.append(&[0u8; 10 * 16], 10)?; // 10 steps × 4 neurons
    /// s.commit()?;
    /// let path = dir.path().join("run.toml");
    /// std::fs::write(&path, "dt = 0.1\nduration = 1.0\n[[population]]\nname = \"p\"\nmodel = \"LIF\"\nneurons = 4\n[population.input]\nnpy = \"x.npy\"\n").unwrap();
    /// let p = &Spec::load(&path)?.prepare_without_inputs()?[0];
    /// assert_eq!((p.host_input.is_none(), p.host_input_bytes), (true, 160));
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn prepare_without_inputs(&self) -> Result<Vec<PreparedPopulation>> {
        self.prepare_with(false)
    }

    fn prepare_with(&self, load_inputs: bool) -> Result<Vec<PreparedPopulation>> {
        let steps = self.steps();
        self.populations
            .iter()
            .enumerate()
            .map(|(i, p)| self.prepare_one(i, p, steps, load_inputs))
            .collect()
    }

    fn value(&self, pop: &str, field: &str, v: &Value, n: usize) -> Result<Param> {
        Ok(match v {
            Value::Number(x) => Param::Uniform(*x),
            Value::List(xs) => {
                if xs.len() != n {
                    return Err(self.err(format!(
                        "population '{pop}', {field}: expected {n} values (one per neuron), got {}",
                        xs.len()
                    )));
                }
                Param::PerNeuron(xs.clone())
            }
            Value::Npy { npy } => {
                let path = self.base_dir.join(npy);
                let (shape, data) = read_npy_f64(&path)
                    .map_err(|e| self.err(format!("population '{pop}', {field}: {e}")))?;
                if shape.len() != 1 || data.len() != n {
                    return Err(Error::format(
                        &path,
                        format!(
                            "population '{pop}', {field}: expected a 1-D array of {n} values, got shape {shape:?}"
                        ),
                    ));
                }
                Param::PerNeuron(data)
            }
        })
    }

    fn prepare_one(
        &self,
        idx: usize,
        p: &PopulationSpec,
        steps: usize,
        load_inputs: bool,
    ) -> Result<PreparedPopulation> {
        let n = p.neurons;
        let name = &p.name;
        let wrap = |e: Error| -> Error {
            match e {
                Error::Format { .. } | Error::Io { .. } => e,
                other => self.err(format!("population '{name}': {other}")),
            }
        };
        let pr = &p.params;
        let val = |field: &str, v: &Option<Value>| -> Result<Option<Param>> {
            v.as_ref()
                .map(|v| self.value(name, field, v, n))
                .transpose()
        };
        let vals = |field: &str, v: &Option<Vec<Value>>| -> Result<Option<Vec<Param>>> {
            v.as_ref()
                .map(|vs| vs.iter().map(|v| self.value(name, field, v, n)).collect())
                .transpose()
        };
        let mut b = Population::builder(p.model, n).dt(self.dt);
        if let Some(x) = val("v_rest", &pr.v_rest)? {
            b = b.v_rest(x);
        }
        if let Some(x) = val("v_reset", &pr.v_reset)? {
            b = b.v_reset(x);
        }
        match (p.model.is_adaptive(), &pr.v_th, &pr.theta_inf) {
            (true, Some(_), _) => {
                return Err(self.err(format!(
                    "population '{name}': {} uses theta_inf, not v_th",
                    p.model
                )))
            }
            (false, _, Some(_)) => {
                return Err(self.err(format!(
                    "population '{name}': {} uses v_th, not theta_inf",
                    p.model
                )))
            }
            _ => {}
        }
        if let Some(x) = val("v_th", &pr.v_th)? {
            b = b.v_th(x);
        }
        if let Some(x) = val("theta_inf", &pr.theta_inf)? {
            b = b.theta_inf(x);
        }
        if let Some(x) = val("t_ref", &pr.t_ref)? {
            b = b.t_ref(x);
        }
        if let Some(x) = val("tau_m", &pr.tau_m)? {
            b = b.tau_m(x);
        }
        if let Some(x) = val("resistance", &pr.resistance)? {
            b = b.resistance(x);
        }
        if let Some(x) = val("m_v", &pr.m_v)? {
            b = b.m_v(x);
        }
        if let Some(x) = val("b_v", &pr.b_v)? {
            b = b.b_v(x);
        }
        match (
            vals("adapt_tau", &pr.adapt_tau)?,
            vals("adapt_rate", &pr.adapt_rate)?,
        ) {
            (Some(_), Some(_)) => {
                return Err(self.err(format!(
                    "population '{name}': give adapt_tau (time constants) or adapt_rate (rates), not both"
                )))
            }
            (Some(t), None) => b = b.adapt_time_constants(t),
            (None, Some(r)) => b = b.adapt_rates(r),
            (None, None) => {}
        }
        if let Some(d) = vals("adapt_increment", &pr.adapt_increment)? {
            b = b.adapt_increments(d);
        }
        if let Some(r) = vals("adapt_reset", &pr.adapt_reset)? {
            b = b.adapt_reset_factors(r);
        }
        match (
            vals("asc_rate", &pr.asc_rate)?,
            vals("asc_amp", &pr.asc_amp)?,
        ) {
            (Some(rates), Some(amps)) => {
                if rates.len() != amps.len() {
                    return Err(self.err(format!(
                        "population '{name}': asc_rate has {} entries but asc_amp has {}",
                        rates.len(),
                        amps.len()
                    )));
                }
                let keep = vals("asc_keep", &pr.asc_keep)?
                    .unwrap_or_else(|| vec![Param::Uniform(1.0); rates.len()]);
                if keep.len() != rates.len() {
                    return Err(self.err(format!(
                        "population '{name}': asc_keep has {} entries, expected {}",
                        keep.len(),
                        rates.len()
                    )));
                }
                let asc = rates
                    .into_iter()
                    .zip(amps)
                    .zip(keep)
                    .map(|((rate, amp), keep)| crate::AfterSpikeCurrent { rate, amp, keep })
                    .collect();
                b = b.after_spike_currents(asc);
            }
            (None, None) => {}
            _ => {
                return Err(self.err(format!(
                    "population '{name}': after-spike currents need both asc_rate and asc_amp"
                )))
            }
        }
        match (
            val("theta_v_a", &pr.theta_v_a)?,
            val("theta_v_b", &pr.theta_v_b)?,
        ) {
            (Some(a), Some(bv)) => b = b.voltage_threshold(a, bv),
            (None, None) => {}
            _ => {
                return Err(self.err(format!(
                    "population '{name}': the voltage threshold needs both theta_v_a and theta_v_b"
                )))
            }
        }
        let pop = b.build().map_err(wrap)?;

        let inp = &p.input;
        let noise = match &inp.noise {
            Some(z) => Some(Noise {
                mean: self.value(name, "input.noise.mean", &z.mean, n)?,
                std: self.value(name, "input.noise.std", &z.std, n)?,
                seed: self.seed.wrapping_add(idx as u64),
            }),
            None => None,
        };
        let schedule = inp
            .schedule
            .iter()
            .map(|&(t, v)| ((t / self.dt).round().max(0.0) as u64, v))
            .collect();
        let drive = Drive {
            bias: val("input.bias", &inp.bias)?.unwrap_or_default(),
            noise,
            schedule,
        };
        drive.validate(n).map_err(wrap)?;
        let (host_input, host_input_bytes) = match &inp.npy {
            Some(f) => {
                let path = self.base_dir.join(f);
                self.host_input(name, &path, steps, p.trials, n, load_inputs)?
            }
            None => (None, 0),
        };

        let rec = &p.record;
        let spike_ranges = match &rec.spikes {
            SpikeSelection::Word(w) if w == "all" => vec![(0, n)],
            SpikeSelection::Word(w) if w == "none" => vec![],
            SpikeSelection::Word(w) => {
                return Err(self.err(format!(
                    "population '{name}', record.spikes: expected \"all\", \"none\" or ranges [[start, end], ...], got \"{w}\""
                )))
            }
            SpikeSelection::Ranges(r) => {
                for &(a, z) in r {
                    if a >= z || z > n {
                        return Err(self.err(format!(
                            "population '{name}', record.spikes: range [{a}, {z}) is empty or beyond the {n} neurons"
                        )));
                    }
                }
                r.clone()
            }
        };
        for (field, list) in [
            ("record.v", &rec.v),
            ("record.theta", &rec.theta),
            ("record.asc", &rec.asc),
        ] {
            if let Some(&bad) = list.iter().find(|&&i| i >= n) {
                return Err(self.err(format!(
                    "population '{name}', {field}: neuron {bad} does not exist (the population has {n})"
                )));
            }
        }
        if !rec.asc.is_empty() && !p.model.has_asc() {
            return Err(self.err(format!(
                "population '{name}', record.asc: {} has no after-spike currents",
                p.model
            )));
        }
        if !rec.theta.is_empty() && !p.model.is_adaptive() && !p.model.has_theta_v() {
            return Err(self.err(format!(
                "population '{name}', record.theta: {} has no threshold components",
                p.model
            )));
        }
        let every = rec.every.unwrap_or(1);
        if every == 0 {
            return Err(self.err(format!("population '{name}', record.every: expected ≥ 1")));
        }
        if p.trials == 0 {
            return Err(self.err(format!("population '{name}', trials: expected ≥ 1")));
        }
        Ok(PreparedPopulation {
            name: name.clone(),
            pop,
            trials: p.trials,
            drive,
            host_input,
            host_input_bytes,
            spike_ranges,
            v: rec.v.clone(),
            theta: rec.theta.clone(),
            asc: rec.asc.clone(),
            every,
            cv_isi: rec.cv_isi.unwrap_or(true),
        })
    }

    /// The host input of population `name` from `path` in the `[T][B][N]` layout (loaded only
    /// with `load`), and its bytes. The header is checked first, and the array's memory
    /// against what the host has, so that a file too large is refused, not read until the
    /// process is killed for want of memory.
    fn host_input(
        &self,
        name: &str,
        path: &Path,
        steps: usize,
        trials: usize,
        n: usize,
        load: bool,
    ) -> Result<(Option<Vec<f32>>, u64)> {
        let in_spec = |e: Error| self.err(format!("population '{name}', input.npy: {e}"));
        let shape = read_npy_shape(path).map_err(in_spec)?;
        let ok = match shape.as_slice() {
            [t, nn] => *t as usize >= steps && *nn as usize == n,
            [t, b, nn] => *t as usize >= steps && *b as usize == trials && *nn as usize == n,
            _ => false,
        };
        if !ok {
            return Err(Error::format(
                path,
                format!(
                    "population '{name}', input.npy: expected shape [T, {n}] or [T, {trials}, {n}] with T ≥ {steps} steps, got {shape:?}"
                ),
            ));
        }
        let bytes = 4 * (steps * trials * n) as u64;
        if !load {
            return Ok((None, bytes));
        }
        crate::cpu::check_host_memory(
            bytes,
            &format!(
                "bytes of host memory for population '{name}''s host input (MemAvailable; {}, [T][B][N] f32 for {steps} steps)",
                path.display()
            ),
        )?;
        let mut out = vec![0f32; steps * trials * n];
        // Read a block at a time straight into the [T][B][N] layout (a [T, N] file's step is
        // the input of every trial), the steps the run takes only. Whether an error is this
        // function's own (else the reader's, which gets the population's name added).
        let per_trial = shape.len() == 2;
        let mut own = false;
        let mut k = 0usize; // values read so far
        read_npy_f32_blocks(
            path,
            (steps * if per_trial { n } else { trials * n }) as u64,
            1 << 20,
            |block| {
                if let Some(i) = block.iter().position(|x| !x.is_finite()) {
                    own = true;
                    return Err(Error::format(
                        path,
                        format!(
                            "population '{name}', input.npy: value at flat index {} is not finite ({})",
                            k + i,
                            block[i]
                        ),
                    ));
                }
                for &x in block {
                    if per_trial {
                        let (t, i) = (k / n, k % n);
                        for b in 0..trials {
                            out[(t * trials + b) * n + i] = x;
                        }
                    } else {
                        out[k] = x;
                    }
                    k += 1;
                }
                Ok(())
            },
        )
        .map_err(|e| if own { e } else { in_spec(e) })?;
        Ok((Some(out), bytes))
    }
}

/// Read an NPY array of float32 or float64 (C order) as f64, with its shape.
///
/// ```
/// use glifsim::{record::NpyStream, spec::read_npy_f64};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("tau.npy");
/// let mut s = NpyStream::create(&path, "<f8", &[])?;
/// s.append(bytemuck::cast_slice(&[10.0f64, 20.0]), 2)?;
/// s.commit()?;
/// assert_eq!(read_npy_f64(&path)?, (vec![2], vec![10.0, 20.0]));
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn read_npy_f64(path: &Path) -> Result<(Vec<u64>, Vec<f64>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy_f64(&bytes, path)
}

/// The shape of a float32 or float64 NPY file, from its header alone (checked as
/// [`read_npy_f64`] checks it, the file's length too).
fn read_npy_shape(path: &Path) -> Result<Vec<u64>> {
    use std::io::Read;
    let io = |e| Error::io(path, e);
    let file = std::fs::File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut head = Vec::new();
    file.take(1 << 20).read_to_end(&mut head).map_err(io)?;
    Ok(npy_float_layout(&head, file_len, path)?.0)
}

/// Check an NPY header's framing and shape before a general parser sees it: glifsim reads only
/// plain dtypes, so the header is a flat dict with one shape tuple. Anything nested is refused
/// (found by fuzzing: deeply nested brackets made the header parser take exponential time).
/// Returns where the data begins.
fn screen_npy_header(bytes: &[u8], path: &Path) -> Result<usize> {
    let bad = |m: &str| Err(Error::format(path, format!("not a readable NPY file: {m}")));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return bad("missing the NPY magic");
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return bad(&format!("unsupported format version {v}")),
    };
    let Some(header) = bytes.get(start..start + len) else {
        return bad("the header is longer than the file");
    };
    let count = |c: u8| header.iter().filter(|&&b| b == c).count();
    if count(b'{') != 1 || count(b'}') != 1 || count(b'(') > 1 || count(b')') > 1 || count(b'[') > 0
    {
        return bad("the header is not a plain dict with one shape tuple (structured dtypes are not supported)");
    }
    Ok(start + len)
}

/// The shape, bytes per value (4 or 8) and data offset of a float32 or float64 C-order NPY
/// file whose first bytes are `head` and whose length is `file_len`: the header screened and
/// parsed, and a file shorter than its header says refused before any data is read.
fn npy_float_layout(head: &[u8], file_len: u64, path: &Path) -> Result<(Vec<u64>, usize, usize)> {
    let offset = screen_npy_header(head, path)?;
    let header = npyz::NpyHeader::from_reader(head)
        .map_err(|e| Error::format(path, format!("not a readable NPY file: {e}")))?;
    let shape = header.shape().to_vec();
    if header.order() != npyz::Order::C && shape.len() > 1 {
        return Err(Error::format(path, "expected a C-order (row-major) array"));
    }
    let descr = header.dtype().descr();
    let item = match descr.trim_matches('\'') {
        "<f8" => 8usize,
        "<f4" => 4,
        other => {
            return Err(Error::format(
                path,
                format!("expected float32 or float64 data, got dtype '{other}'"),
            ))
        }
    };
    let bytes = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .and_then(|c| c.checked_mul(item as u64));
    match bytes {
        Some(c) if c <= file_len.saturating_sub(offset as u64) => Ok((shape, item, offset)),
        _ => Err(Error::format(
            path,
            format!("truncated or malformed NPY data: shape {shape:?} needs more bytes than the file holds"),
        )),
    }
}

/// The values of little-endian float32 (`item` 4) or float64 (8) bytes, as f64.
fn decode_floats(bytes: &[u8], item: usize) -> impl Iterator<Item = f64> + '_ {
    bytes.chunks_exact(item).map(move |b| {
        if item == 8 {
            f64::from_le_bytes(b.try_into().unwrap())
        } else {
            f64::from(f32::from_le_bytes(b.try_into().unwrap()))
        }
    })
}

/// Parse NPY bytes (float32 or float64, C order) as f64; `path` names the source in errors.
/// A header that claims more data than the bytes hold is refused before anything is allocated.
///
/// ```
/// use glifsim::spec::parse_npy_f64;
/// let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
/// let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
/// bytes.extend_from_slice(&118u16.to_le_bytes());
/// bytes.extend_from_slice(format!("{header:<117}\n").as_bytes());
/// bytes.extend_from_slice(bytemuck::cast_slice(&[1.5f32, -2.0]));
/// assert_eq!(parse_npy_f64(&bytes, "mem".as_ref())?, (vec![2], vec![1.5, -2.0]));
/// // A header that claims more values than the bytes hold is refused.
/// assert!(parse_npy_f64(&bytes[..bytes.len() - 4], "mem".as_ref()).is_err());
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn parse_npy_f64(bytes: &[u8], path: &Path) -> Result<(Vec<u64>, Vec<f64>)> {
    let (shape, item, offset) = npy_float_layout(bytes, bytes.len() as u64, path)?;
    let count: u64 = shape.iter().product();
    let data = &bytes[offset..offset + count as usize * item];
    Ok((shape, decode_floats(data, item).collect()))
}

/// Read the first `limit` values (all, if fewer) of an NPY array of float32 or float64 (C
/// order) as f32, a block of at most `block` values at a time, handing each to `f` in file
/// order; returns the array's shape. Checked as
/// [`read_npy_f64`] checks it, but the file is never held whole: a host input of 10⁹ values
/// costs its f32 array and one block, not the file, an f64 copy and the f32 array. (A float64
/// value becomes the nearest f32, as `as f32` makes it.)
///
/// ```
/// use glifsim::record::NpyStream;
/// use glifsim::spec::read_npy_f32_blocks;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("input.npy");
/// let mut s = NpyStream::create(&path, "<f8", &[2])?; // [T][N], N = 2
/// s.append(bytemuck::cast_slice(&[1.5f64, 2.0, 3.0, 4.25, 5.0, 6.0]), 3)?;
/// s.commit()?;
/// let mut first_two_steps = Vec::new();
/// let shape = read_npy_f32_blocks(&path, 4, 3, |b| {
///     first_two_steps.extend_from_slice(b);
///     Ok(())
/// })?;
/// assert_eq!((shape, first_two_steps), (vec![3, 2], vec![1.5f32, 2.0, 3.0, 4.25]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_npy_f32_blocks(
    path: &Path,
    limit: u64,
    block: usize,
    mut f: impl FnMut(&[f32]) -> Result<()>,
) -> Result<Vec<u64>> {
    use std::io::Read;
    let io = |e| Error::io(path, e);
    let file = std::fs::File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut r = std::io::BufReader::with_capacity(1 << 20, file);
    // The header lies in the first bytes (a header of over 1 MiB is refused as too long).
    let mut head = Vec::new();
    (&mut r).take(1 << 20).read_to_end(&mut head).map_err(io)?;
    let (shape, item, offset) = npy_float_layout(&head, file_len, path)?;
    let total: u64 = shape.iter().product();
    let mut data = (&head[offset..]).chain(r);
    let (mut left, block) = (total.min(limit), block.max(1));
    let mut bytes = vec![0u8; block.min(left as usize) * item];
    let mut values = Vec::with_capacity(block.min(left as usize));
    while left > 0 {
        let k = block.min(left as usize);
        data.read_exact(&mut bytes[..k * item]).map_err(io)?;
        values.clear();
        values.extend(decode_floats(&bytes[..k * item], item).map(|x| x as f32));
        f(&values)?;
        left -= k as u64;
    }
    Ok(shape)
}
