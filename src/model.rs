//! Model definitions, parameters and their validation (`MODELS.md`, "Models" and "Validation").
//!
//! A [`Population`] is built through [`PopulationBuilder`], which checks every rule of the spec
//! and returns [`Error::InvalidParameter`] naming the parameter, the neuron (for per-neuron
//! arrays) and the value. All values are kept in f64; each simulator rounds them once to its
//! precision. Decay factors are computed here, on the host, in f64.

use crate::error::{Error, Result};

/// The neuron models glifsim simulates.
///
/// ```
/// use glifsim::Model;
/// let m: Model = "glif5".parse()?;
/// assert_eq!(m, Model::Glif5);
/// assert_eq!(m.to_string(), "GLIF5");
/// assert!("GLIF6".parse::<Model>().is_err());
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Model {
    /// Leaky integrate-and-fire.
    Lif,
    /// The same model as LIF under its Allen Institute name.
    Glif1,
    /// LIF with K spike-triggered threshold components that decay with time constants τ_k.
    Alif,
    /// LIF with threshold components decaying at rates λ_k and a voltage reset
    /// `V ← (V' − V_rest)·m_v + V_rest − b_v`.
    Glif2,
    /// LIF plus J after-spike currents, integrated exactly.
    Glif3,
    /// GLIF2 plus after-spike currents.
    Glif4,
    /// GLIF4 plus the voltage-dependent threshold component θ_v.
    Glif5,
}

impl Model {
    /// Every model, in the order of the spec (`MODELS.md`).
    ///
    /// ```
    /// use glifsim::Model;
    /// let names: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
    /// assert_eq!(names, ["LIF", "GLIF1", "ALIF", "GLIF2", "GLIF3", "GLIF4", "GLIF5"]);
    /// ```
    pub const ALL: [Model; 7] = [
        Model::Lif,
        Model::Glif1,
        Model::Alif,
        Model::Glif2,
        Model::Glif3,
        Model::Glif4,
        Model::Glif5,
    ];

    /// Whether the model has spike-triggered threshold components θ_k (ALIF, GLIF2, GLIF4, GLIF5).
    ///
    /// ```
    /// use glifsim::Model;
    /// assert!(Model::Alif.is_adaptive() && Model::Glif5.is_adaptive());
    /// assert!(!Model::Lif.is_adaptive() && !Model::Glif3.is_adaptive());
    /// ```
    pub fn is_adaptive(self) -> bool {
        matches!(
            self,
            Model::Alif | Model::Glif2 | Model::Glif4 | Model::Glif5
        )
    }
    /// Whether the voltage resets by `(V' − V_rest)·m_v + V_rest − b_v` (GLIF2, GLIF4, GLIF5)
    /// rather than to V_reset.
    ///
    /// ```
    /// use glifsim::Model;
    /// assert!(Model::Glif2.has_glif_reset());
    /// assert!(!Model::Alif.has_glif_reset());
    /// ```
    pub fn has_glif_reset(self) -> bool {
        matches!(self, Model::Glif2 | Model::Glif4 | Model::Glif5)
    }
    /// Whether the model has after-spike currents (GLIF3, GLIF4, GLIF5).
    ///
    /// ```
    /// use glifsim::Model;
    /// assert!(Model::Glif3.has_asc() && Model::Glif4.has_asc());
    /// assert!(!Model::Glif2.has_asc());
    /// ```
    pub fn has_asc(self) -> bool {
        matches!(self, Model::Glif3 | Model::Glif4 | Model::Glif5)
    }
    /// Whether the model has the voltage-dependent threshold component θ_v (GLIF5).
    ///
    /// ```
    /// use glifsim::Model;
    /// assert!(Model::Glif5.has_theta_v());
    /// assert!(!Model::Glif4.has_theta_v());
    /// ```
    pub fn has_theta_v(self) -> bool {
        self == Model::Glif5
    }
    /// The canonical name (`LIF`, `GLIF1`, `ALIF`, `GLIF2`, `GLIF3`, `GLIF4`, `GLIF5`).
    ///
    /// ```
    /// use glifsim::Model;
    /// assert_eq!(Model::Glif1.name(), "GLIF1");
    /// assert_eq!(Model::Alif.name(), "ALIF");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Model::Lif => "LIF",
            Model::Glif1 => "GLIF1",
            Model::Alif => "ALIF",
            Model::Glif2 => "GLIF2",
            Model::Glif3 => "GLIF3",
            Model::Glif4 => "GLIF4",
            Model::Glif5 => "GLIF5",
        }
    }
}

impl<'de> serde::Deserialize<'de> for Model {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for Model {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "LIF" => Ok(Model::Lif),
            "GLIF1" => Ok(Model::Glif1),
            "ALIF" => Ok(Model::Alif),
            "GLIF2" => Ok(Model::Glif2),
            "GLIF3" => Ok(Model::Glif3),
            "GLIF4" => Ok(Model::Glif4),
            "GLIF5" => Ok(Model::Glif5),
            other => Err(Error::Usage(format!(
                "unknown model '{other}': expected LIF, GLIF1, ALIF, GLIF2, GLIF3, GLIF4 or GLIF5"
            ))),
        }
    }
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One parameter: a single value for the whole population, or one value per neuron.
///
/// ```
/// use glifsim::Param;
/// let p: Param = 2.0.into();
/// assert_eq!(p.at(7), 2.0);
/// let q: Param = vec![1.0, 2.0, 3.0].into();
/// assert_eq!(q.at(2), 3.0);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Param {
    /// The same value for every neuron.
    Uniform(f64),
    /// One value per neuron (exactly N of them).
    PerNeuron(Vec<f64>),
}

impl Param {
    /// The value for neuron `n`.
    ///
    /// ```
    /// use glifsim::Param;
    /// assert_eq!(Param::Uniform(-65.0).at(999), -65.0);
    /// assert_eq!(Param::PerNeuron(vec![1.0, 2.0]).at(1), 2.0);
    /// ```
    #[inline]
    pub fn at(&self, n: usize) -> f64 {
        match self {
            Param::Uniform(x) => *x,
            Param::PerNeuron(v) => v[n],
        }
    }
    /// Whether the parameter has one value per neuron.
    ///
    /// ```
    /// use glifsim::Param;
    /// assert!(!Param::from(3.0).is_per_neuron());
    /// assert!(Param::from(vec![3.0, 4.0]).is_per_neuron());
    /// ```
    pub fn is_per_neuron(&self) -> bool {
        matches!(self, Param::PerNeuron(_))
    }
    /// Apply `f` to every value, keeping the shape.
    ///
    /// ```
    /// use glifsim::Param;
    /// let tau = Param::from(vec![10.0, 20.0]);
    /// assert_eq!(tau.map(|t| 2.0 * t), Param::from(vec![20.0, 40.0]));
    /// ```
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Param {
        match self {
            Param::Uniform(x) => Param::Uniform(f(*x)),
            Param::PerNeuron(v) => Param::PerNeuron(v.iter().map(|&x| f(x)).collect()),
        }
    }
    /// Combine two parameters element-wise (per neuron if either is).
    ///
    /// ```
    /// use glifsim::Param;
    /// let a = Param::from(1.0);
    /// let b = Param::from(vec![10.0, 20.0, 30.0]);
    /// assert_eq!(a.zip(&b, 3, |x, y| x + y), Param::from(vec![11.0, 21.0, 31.0]));
    /// assert_eq!(a.zip(&a, 3, |x, y| x + y), Param::from(2.0));
    /// ```
    pub fn zip(&self, other: &Param, n: usize, f: impl Fn(f64, f64) -> f64) -> Param {
        match (self, other) {
            (Param::Uniform(a), Param::Uniform(b)) => Param::Uniform(f(*a, *b)),
            _ => Param::PerNeuron((0..n).map(|i| f(self.at(i), other.at(i))).collect()),
        }
    }
    /// Values as a slice: one value, or N.
    ///
    /// ```
    /// use glifsim::Param;
    /// assert_eq!(Param::from(5.0).values(), &[5.0]);
    /// assert_eq!(Param::from(vec![1.0, 2.0]).values(), &[1.0, 2.0]);
    /// ```
    pub fn values(&self) -> &[f64] {
        match self {
            Param::Uniform(x) => std::slice::from_ref(x),
            Param::PerNeuron(v) => v,
        }
    }
}

impl From<f32> for Param {
    fn from(x: f32) -> Self {
        Param::Uniform(x as f64)
    }
}
impl From<f64> for Param {
    fn from(x: f64) -> Self {
        Param::Uniform(x)
    }
}
impl From<Vec<f64>> for Param {
    fn from(v: Vec<f64>) -> Self {
        Param::PerNeuron(v)
    }
}
impl From<&[f64]> for Param {
    fn from(v: &[f64]) -> Self {
        Param::PerNeuron(v.to_vec())
    }
}

/// How the K threshold-adaptation components decay.
///
/// ```
/// use glifsim::{model::Adaptation, Model, Population};
/// // τ = 20 ms at Δt = 0.1 ms, given three ways: the same decay factor.
/// let e = (-0.1f64 / 20.0).exp();
/// for a in [
///     Adaptation::TimeConstants(vec![20.0.into()]),
///     Adaptation::Rates(vec![0.05.into()]),
///     Adaptation::DecayFactors(vec![e.into()]),
/// ] {
///     let pop = Population::builder(Model::Alif, 10)
///         .adaptation(a)
///         .adapt_increments(vec![1.0.into()])
///         .build()?;
///     assert!((pop.decay_k()[0].at(0) - e).abs() < 1e-15);
/// }
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Adaptation {
    /// Time constants τ_k in ms (ALIF): e_k = exp(−Δt/τ_k).
    TimeConstants(Vec<Param>),
    /// Rate constants λ_k in 1/ms (GLIF2, GLIF4, GLIF5): e_k = exp(−Δt·λ_k).
    Rates(Vec<Param>),
    /// The per-step decay factors e_k themselves, in [0, 1].
    DecayFactors(Vec<Param>),
}

impl Adaptation {
    fn len(&self) -> usize {
        match self {
            Adaptation::TimeConstants(v) | Adaptation::Rates(v) | Adaptation::DecayFactors(v) => {
                v.len()
            }
        }
    }
}

/// One after-spike current of GLIF3–5: `dI/dt = −k·I`, and on a spike `I ← f·I + δI`.
///
/// ```
/// use glifsim::{model::AfterSpikeCurrent, Model, Population};
/// let pop = Population::builder(Model::Glif3, 10)
///     .after_spike_currents(vec![
///         AfterSpikeCurrent { rate: 0.3.into(), amp: (-0.5).into(), keep: 1.0.into() },
///         AfterSpikeCurrent { rate: 0.01.into(), amp: 0.2.into(), keep: 1.0.into() },
///     ])
///     .build()?;
/// assert_eq!(pop.j(), 2);
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AfterSpikeCurrent {
    /// Decay rate k_j (1/ms), > 0.
    pub rate: Param,
    /// Amplitude δI_j added on a spike (nA).
    pub amp: Param,
    /// Fraction f_j of the current kept on a spike (AllenSDK's `asc_r`; usually 1).
    pub keep: Param,
}

/// The voltage-dependent threshold component of GLIF5: `dθ_v/dt = a_v·(V − V_rest) − b_v·θ_v`.
///
/// ```
/// use glifsim::{model::AfterSpikeCurrent, Model, Population};
/// let pop = Population::builder(Model::Glif5, 10)
///     .m_v(0.4).b_v(2.0)
///     .adapt_rates(vec![0.02.into()])
///     .adapt_increments(vec![1.0.into()])
///     .after_spike_currents(vec![AfterSpikeCurrent { rate: 0.3.into(), amp: 0.5.into(), keep: 1.0.into() }])
///     .voltage_threshold(0.004, 0.1)
///     .build()?;
/// let tv = pop.voltage_threshold().unwrap();
/// assert_eq!((tv.a.at(0), tv.b.at(0)), (0.004, 0.1));
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct VoltageThreshold {
    /// Coupling a_v (1/ms).
    pub a: Param,
    /// Decay rate b_v (1/ms), > 0.
    pub b: Param,
}

/// A validated population description: model, size and parameters, with the decay factors
/// already computed in f64.
///
/// ```
/// use glifsim::{Model, Population};
/// let pop = Population::builder(Model::Alif, 100)
///     .dt(0.5)
///     .adapt_time_constants(vec![30.0.into(), 300.0.into()])
///     .adapt_increments(vec![1.5.into(), 0.25.into()])
///     .build()?;
/// assert_eq!(pop.k(), 2);
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    pub(crate) model: Model,
    pub(crate) n: usize,
    pub(crate) dt: f64,
    pub(crate) v_rest: Param,
    /// V_reset (LIF, ALIF, GLIF3); unused (zero) for GLIF2, GLIF4 and GLIF5.
    pub(crate) v_reset: Param,
    /// V_th (LIF, GLIF3) or Θ_∞ (ALIF, GLIF2, GLIF4, GLIF5).
    pub(crate) threshold: Param,
    pub(crate) t_ref: Param,
    pub(crate) tau_m: Param,
    pub(crate) resistance: Param,
    pub(crate) m_v: Param,
    pub(crate) b_v: Param,
    /// e_m = exp(−Δt/τ_m), in f64.
    pub(crate) decay_m: Param,
    /// e_k, in f64, K entries.
    pub(crate) decay_k: Vec<Param>,
    /// d_k, K entries.
    pub(crate) increment_k: Vec<Param>,
    /// r_k: the factor θ_k is multiplied by on a spike, before the step's update (default 1).
    pub(crate) keep_k: Vec<Param>,
    /// After-spike currents (GLIF3–5), J entries.
    pub(crate) asc: Vec<AfterSpikeCurrent>,
    /// The voltage-dependent threshold (GLIF5).
    pub(crate) theta_v: Option<VoltageThreshold>,
    /// Exact-integration coefficients (GLIF3–5), in f64: see [`crate::propagator`].
    pub(crate) asc_gain: Vec<Param>,
    pub(crate) asc_decay: Vec<Param>,
    pub(crate) thv_decay: Param,
    pub(crate) thv_u: Param,
    pub(crate) thv_w: Param,
    pub(crate) thv_asc: Vec<Param>,
}

impl Population {
    /// Start describing a population of `n` neurons of `model`.
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let pop = Population::builder(Model::Lif, 3).tau_m(vec![10.0, 20.0, 30.0]).build()?;
    /// assert_eq!(pop.tau_m().at(1), 20.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn builder(model: Model, n: usize) -> PopulationBuilder {
        PopulationBuilder::new(model, n)
    }
    /// The model.
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert_eq!(Population::builder(Model::Glif1, 1).build()?.model(), Model::Glif1);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn model(&self) -> Model {
        self.model
    }
    /// Number of neurons N.
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert_eq!(Population::builder(Model::Lif, 4096).build()?.len(), 4096);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.n
    }
    /// Always false: a population has at least one neuron.
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert!(!Population::builder(Model::Lif, 1).build()?.is_empty());
    /// assert!(Population::builder(Model::Lif, 0).build().is_err());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// Number of spike-triggered threshold components K (0 for LIF, GLIF1, GLIF3).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert_eq!(Population::builder(Model::Lif, 1).build()?.k(), 0);
    /// let alif = Population::builder(Model::Alif, 1)
    ///     .adapt_time_constants(vec![20.0.into(), 200.0.into()])
    ///     .adapt_increments(vec![1.0.into(), 0.1.into()])
    ///     .build()?;
    /// assert_eq!(alif.k(), 2);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn k(&self) -> usize {
        self.decay_k.len()
    }
    /// Number of after-spike currents J (GLIF3–5).
    ///
    /// ```
    /// use glifsim::{model::AfterSpikeCurrent, Model, Population};
    /// let asc = AfterSpikeCurrent { rate: 0.3.into(), amp: 0.5.into(), keep: 1.0.into() };
    /// let pop = Population::builder(Model::Glif3, 1).after_spike_currents(vec![asc]).build()?;
    /// assert_eq!((pop.k(), pop.j()), (0, 1));
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn j(&self) -> usize {
        self.asc.len()
    }
    /// Number of threshold values of a neuron in [`crate::State::theta`]: K, plus θ_v for GLIF5.
    ///
    /// ```
    /// use glifsim::{model::AfterSpikeCurrent, Model, Population};
    /// let asc = AfterSpikeCurrent { rate: 0.3.into(), amp: 0.5.into(), keep: 1.0.into() };
    /// let pop = Population::builder(Model::Glif5, 1)
    ///     .m_v(0.4).b_v(2.0)
    ///     .adapt_rates(vec![0.02.into()]).adapt_increments(vec![1.0.into()])
    ///     .after_spike_currents(vec![asc])
    ///     .voltage_threshold(0.004, 0.1)
    ///     .build()?;
    /// assert_eq!(pop.theta_len(), 2); // θ_1 and θ_v
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn theta_len(&self) -> usize {
        self.k() + usize::from(self.theta_v.is_some())
    }
    /// Number of extra state components per neuron: θ_1..θ_K, I_1..I_J, θ_v.
    ///
    /// ```
    /// use glifsim::{model::AfterSpikeCurrent, Model, Population};
    /// let asc = AfterSpikeCurrent { rate: 0.3.into(), amp: 0.5.into(), keep: 1.0.into() };
    /// let pop = Population::builder(Model::Glif5, 1)
    ///     .m_v(0.4).b_v(2.0)
    ///     .adapt_rates(vec![0.02.into()]).adapt_increments(vec![1.0.into()])
    ///     .after_spike_currents(vec![asc.clone(), asc])
    ///     .voltage_threshold(0.004, 0.1)
    ///     .build()?;
    /// assert_eq!(pop.components(), 4); // θ_1, I_1, I_2, θ_v
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn components(&self) -> usize {
        self.k() + self.j() + usize::from(self.theta_v.is_some())
    }
    /// After-spike currents.
    ///
    /// ```
    /// use glifsim::{model::AfterSpikeCurrent, Model, Population};
    /// let asc = AfterSpikeCurrent { rate: 0.3.into(), amp: 0.5.into(), keep: 1.0.into() };
    /// let pop = Population::builder(Model::Glif3, 1).after_spike_currents(vec![asc.clone()]).build()?;
    /// assert_eq!(pop.after_spike_currents(), &[asc]);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn after_spike_currents(&self) -> &[AfterSpikeCurrent] {
        &self.asc
    }
    /// The GLIF5 voltage-dependent threshold.
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert!(Population::builder(Model::Lif, 1).build()?.voltage_threshold().is_none());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn voltage_threshold(&self) -> Option<&VoltageThreshold> {
        self.theta_v.as_ref()
    }
    /// Exact-integration coefficient ∂V'/∂I_j of each after-spike current, in f64.
    ///
    /// ```
    /// use glifsim::{model::AfterSpikeCurrent, Model, Population};
    /// let asc = AfterSpikeCurrent { rate: 0.3.into(), amp: 0.5.into(), keep: 1.0.into() };
    /// let pop = Population::builder(Model::Glif3, 1).after_spike_currents(vec![asc]).build()?;
    /// // A current of 1 nA through R = 1 MΩ over one step of 0.1 ms moves V by a little under
    /// // (1 − e_m) mV, since the current decays during the step.
    /// let g = pop.asc_gain()[0].at(0);
    /// assert!(g > 0.0 && g < 1.0 - pop.decay_m().at(0));
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn asc_gain(&self) -> &[Param] {
        &self.asc_gain
    }
    /// The time step Δt in ms.
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert_eq!(Population::builder(Model::Lif, 1).dt(0.25).build()?.dt(), 0.25);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn dt(&self) -> f64 {
        self.dt
    }
    /// V_rest (mV).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert_eq!(Population::builder(Model::Lif, 1).build()?.v_rest().at(0), -65.0); // the default
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn v_rest(&self) -> &Param {
        &self.v_rest
    }
    /// V_reset (mV; LIF, ALIF and GLIF3).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert_eq!(Population::builder(Model::Lif, 1).v_reset(-72.0).build()?.v_reset().at(0), -72.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn v_reset(&self) -> &Param {
        &self.v_reset
    }
    /// V_th (LIF, GLIF3) or Θ_∞ (ALIF, GLIF2, GLIF4, GLIF5), mV.
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let lif = Population::builder(Model::Lif, 1).v_th(-48.0).build()?;
    /// assert_eq!(lif.threshold().at(0), -48.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn threshold(&self) -> &Param {
        &self.threshold
    }
    /// Refractory period t_ref (ms).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert_eq!(Population::builder(Model::Lif, 1).t_ref(0.0).build()?.t_ref().at(0), 0.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn t_ref(&self) -> &Param {
        &self.t_ref
    }
    /// Membrane time constant τ_m (ms).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert_eq!(Population::builder(Model::Lif, 1).build()?.tau_m().at(0), 20.0); // the default
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn tau_m(&self) -> &Param {
        &self.tau_m
    }
    /// Resistance R (MΩ).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert_eq!(Population::builder(Model::Lif, 1).resistance(0.5).build()?.resistance().at(0), 0.5);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn resistance(&self) -> &Param {
        &self.resistance
    }
    /// Voltage-reset multiplier m_v (GLIF2, GLIF4, GLIF5).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let pop = Population::builder(Model::Glif2, 1)
    ///     .m_v(0.4).b_v(2.0)
    ///     .adapt_rates(vec![0.02.into()]).adapt_increments(vec![1.0.into()])
    ///     .build()?;
    /// assert_eq!(pop.m_v().at(0), 0.4);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn m_v(&self) -> &Param {
        &self.m_v
    }
    /// Voltage-reset offset b_v (mV; GLIF2, GLIF4, GLIF5).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let pop = Population::builder(Model::Glif2, 1)
    ///     .m_v(0.4).b_v(2.0)
    ///     .adapt_rates(vec![0.02.into()]).adapt_increments(vec![1.0.into()])
    ///     .build()?;
    /// assert_eq!(pop.b_v().at(0), 2.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn b_v(&self) -> &Param {
        &self.b_v
    }
    /// Membrane decay factor e_m = exp(−Δt/τ_m), in f64.
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let pop = Population::builder(Model::Lif, 1).dt(0.1).tau_m(20.0).build()?;
    /// assert_eq!(pop.decay_m().at(0), (-0.1f64 / 20.0).exp());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn decay_m(&self) -> &Param {
        &self.decay_m
    }
    /// Adaptation decay factors e_k, in f64.
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let pop = Population::builder(Model::Alif, 1)
    ///     .dt(0.1)
    ///     .adapt_time_constants(vec![50.0.into()])
    ///     .adapt_increments(vec![1.0.into()])
    ///     .build()?;
    /// assert_eq!(pop.decay_k()[0].at(0), (-0.1f64 / 50.0).exp());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn decay_k(&self) -> &[Param] {
        &self.decay_k
    }
    /// Adaptation increments d_k (mV).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let pop = Population::builder(Model::Alif, 1)
    ///     .adapt_time_constants(vec![50.0.into()])
    ///     .adapt_increments(vec![1.5.into()])
    ///     .build()?;
    /// assert_eq!(pop.increment_k()[0].at(0), 1.5);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn increment_k(&self) -> &[Param] {
        &self.increment_k
    }
    /// Spike reset factors r_k of the threshold components (1 unless set).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let pop = Population::builder(Model::Alif, 1)
    ///     .adapt_time_constants(vec![50.0.into()])
    ///     .adapt_increments(vec![1.5.into()])
    ///     .build()?;
    /// assert_eq!(pop.keep_k()[0].at(0), 1.0); // the default
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn keep_k(&self) -> &[Param] {
        &self.keep_k
    }
    /// A 64-bit fingerprint (FNV-1a) of the model, size, Δt and every parameter value, used to
    /// check that a checkpoint is restored into the population it was taken from.
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let a = Population::builder(Model::Lif, 100).build()?;
    /// let b = Population::builder(Model::Lif, 100).tau_m(21.0).build()?;
    /// assert_eq!(a.fingerprint(), a.clone().fingerprint());
    /// assert_ne!(a.fingerprint(), b.fingerprint());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |x: u64| {
            for b in x.to_le_bytes() {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        eat(self.model as u64);
        eat(self.n as u64);
        eat(self.dt.to_bits());
        for (_, p) in self.param_list() {
            eat(p.values().len() as u64);
            for v in p.values() {
                eat(v.to_bits());
            }
        }
        h
    }
    /// How many of [`param_list`](Self::param_list)'s parameters have one value per neuron.
    pub(crate) fn per_neuron_params(&self) -> usize {
        self.param_list()
            .iter()
            .filter(|(_, p)| p.is_per_neuron())
            .count()
    }
    /// Every parameter as (name, value), in a fixed order; the GPU path uploads them in this
    /// order and the CPU path reads them by name.
    pub(crate) fn param_list(&self) -> Vec<(&'static str, &Param)> {
        let mut v = vec![
            ("v_rest", &self.v_rest),
            ("v_reset", &self.v_reset),
            ("threshold", &self.threshold),
            ("t_ref", &self.t_ref),
            ("resistance", &self.resistance),
            ("decay_m", &self.decay_m),
            ("m_v", &self.m_v),
            ("b_v", &self.b_v),
        ];
        for p in &self.decay_k {
            v.push(("decay_k", p));
        }
        for p in &self.increment_k {
            v.push(("increment_k", p));
        }
        for p in &self.keep_k {
            v.push(("keep_k", p));
        }
        for (name, list) in [("asc_decay", &self.asc_decay), ("asc_gain", &self.asc_gain)] {
            for p in list {
                v.push((name, p));
            }
        }
        for a in &self.asc {
            v.push(("asc_keep", &a.keep));
        }
        for a in &self.asc {
            v.push(("asc_amp", &a.amp));
        }
        if self.theta_v.is_some() {
            v.push(("thv_decay", &self.thv_decay));
            v.push(("thv_u", &self.thv_u));
            v.push(("thv_w", &self.thv_w));
            for p in &self.thv_asc {
                v.push(("thv_asc", p));
            }
        }
        v
    }
}

/// Builder for [`Population`]; `build` validates every rule of the spec.
///
/// Defaults: Δt = 0.1 ms, V_rest = −65 mV, V_reset = −70 mV, V_th = Θ_∞ = −50 mV,
/// t_ref = 2 ms, τ_m = 20 ms, R = 1 MΩ. ALIF, GLIF2, GLIF4 and GLIF5 need their adaptation
/// components; GLIF2, GLIF4 and GLIF5 need m_v and b_v; GLIF3–5 their after-spike currents.
///
/// ```
/// use glifsim::{Model, Population};
/// let pop = Population::builder(Model::Lif, 1000)
///     .dt(0.1).v_rest(-65.0).v_reset(-70.0).v_th(-50.0).t_ref(2.0).tau_m(20.0)
///     .build()?;
/// assert_eq!(pop.len(), 1000);
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PopulationBuilder {
    model: Model,
    n: usize,
    dt: f64,
    v_rest: Param,
    v_reset: Option<Param>,
    threshold: Param,
    t_ref: Param,
    tau_m: Param,
    resistance: Param,
    m_v: Option<Param>,
    b_v: Option<Param>,
    adaptation: Option<Adaptation>,
    increments: Option<Vec<Param>>,
    asc: Option<Vec<AfterSpikeCurrent>>,
    theta_v: Option<VoltageThreshold>,
    keep_k: Option<Vec<Param>>,
}

impl PopulationBuilder {
    /// A builder with the defaults listed on the type.
    ///
    /// ```
    /// use glifsim::{model::PopulationBuilder, Model};
    /// let pop = PopulationBuilder::new(Model::Lif, 10).build()?;
    /// assert_eq!(pop.threshold().at(0), -50.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn new(model: Model, n: usize) -> Self {
        PopulationBuilder {
            model,
            n,
            dt: 0.1,
            v_rest: (-65.0).into(),
            v_reset: None,
            threshold: (-50.0).into(),
            t_ref: 2.0.into(),
            tau_m: 20.0.into(),
            resistance: 1.0.into(),
            m_v: None,
            b_v: None,
            adaptation: None,
            increments: None,
            asc: None,
            theta_v: None,
            keep_k: None,
        }
    }
    /// Spike reset factors r_k of the threshold components: on a spike θ_k ← r_k·θ_k before
    /// the step's decay and increment (default 1, which is `MODELS.md`'s rule). AllenSDK
    /// advances the old component through the spike cut; [`crate::allen`] sets r_k for that.
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let pop = Population::builder(Model::Alif, 1)
    ///     .adapt_time_constants(vec![50.0.into()])
    ///     .adapt_increments(vec![1.0.into()])
    ///     .adapt_reset_factors(vec![0.0.into()]) // θ_k starts from 0 at each spike
    ///     .build()?;
    /// assert_eq!(pop.keep_k()[0].at(0), 0.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn adapt_reset_factors(mut self, r: Vec<Param>) -> Self {
        self.keep_k = Some(r);
        self
    }
    /// After-spike currents (GLIF3, GLIF4, GLIF5).
    ///
    /// ```
    /// use glifsim::{model::AfterSpikeCurrent, Model, Population};
    /// let asc = AfterSpikeCurrent { rate: 0.3.into(), amp: 0.5.into(), keep: 1.0.into() };
    /// assert_eq!(Population::builder(Model::Glif3, 1).after_spike_currents(vec![asc]).build()?.j(), 1);
    /// // LIF has none to give.
    /// let asc = AfterSpikeCurrent { rate: 0.3.into(), amp: 0.5.into(), keep: 1.0.into() };
    /// assert!(Population::builder(Model::Lif, 1).after_spike_currents(vec![asc]).build().is_err());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn after_spike_currents(mut self, asc: Vec<AfterSpikeCurrent>) -> Self {
        self.asc = Some(asc);
        self
    }
    /// The voltage-dependent threshold of GLIF5: coupling a_v (1/ms) and decay rate b_v (1/ms).
    ///
    /// ```
    /// use glifsim::{model::AfterSpikeCurrent, Model, Population};
    /// let asc = AfterSpikeCurrent { rate: 0.3.into(), amp: 0.5.into(), keep: 1.0.into() };
    /// let pop = Population::builder(Model::Glif5, 1)
    ///     .m_v(0.4).b_v(2.0)
    ///     .adapt_rates(vec![0.02.into()]).adapt_increments(vec![1.0.into()])
    ///     .after_spike_currents(vec![asc])
    ///     .voltage_threshold(0.004, 0.1)
    ///     .build()?;
    /// assert!(pop.voltage_threshold().is_some());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn voltage_threshold(mut self, a: impl Into<Param>, b: impl Into<Param>) -> Self {
        self.theta_v = Some(VoltageThreshold {
            a: a.into(),
            b: b.into(),
        });
        self
    }
    /// Time step Δt (ms).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert!(Population::builder(Model::Lif, 1).dt(0.05).build().is_ok());
    /// assert!(Population::builder(Model::Lif, 1).dt(0.0).build().is_err());
    /// ```
    pub fn dt(mut self, dt: f64) -> Self {
        self.dt = dt;
        self
    }
    /// Resting potential V_rest (mV).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// // One value for all, or one per neuron.
    /// assert!(Population::builder(Model::Lif, 2).v_rest(-70.0).build().is_ok());
    /// assert!(Population::builder(Model::Lif, 2).v_rest(vec![-70.0, -68.0]).build().is_ok());
    /// assert!(Population::builder(Model::Lif, 2).v_rest(vec![-70.0]).build().is_err()); // not 2
    /// ```
    pub fn v_rest(mut self, p: impl Into<Param>) -> Self {
        self.v_rest = p.into();
        self
    }
    /// Reset potential V_reset (mV; LIF, GLIF1, ALIF).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert_eq!(Population::builder(Model::Lif, 1).v_reset(-75.0).build()?.v_reset().at(0), -75.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn v_reset(mut self, p: impl Into<Param>) -> Self {
        self.v_reset = Some(p.into());
        self
    }
    /// Firing threshold V_th (mV; LIF, GLIF1, GLIF3). Same slot as [`Self::theta_inf`].
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert_eq!(Population::builder(Model::Lif, 1).v_th(-45.0).build()?.threshold().at(0), -45.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn v_th(mut self, p: impl Into<Param>) -> Self {
        self.threshold = p.into();
        self
    }
    /// Equilibrium threshold Θ_∞ (mV; ALIF, GLIF2, GLIF4, GLIF5). Same slot as [`Self::v_th`].
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let pop = Population::builder(Model::Alif, 1)
    ///     .theta_inf(-52.0)
    ///     .adapt_time_constants(vec![50.0.into()])
    ///     .adapt_increments(vec![1.0.into()])
    ///     .build()?;
    /// assert_eq!(pop.threshold().at(0), -52.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn theta_inf(mut self, p: impl Into<Param>) -> Self {
        self.threshold = p.into();
        self
    }
    /// Refractory period t_ref (ms).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert!(Population::builder(Model::Lif, 1).t_ref(-1.0).build().is_err()); // must be ≥ 0
    /// ```
    pub fn t_ref(mut self, p: impl Into<Param>) -> Self {
        self.t_ref = p.into();
        self
    }
    /// Membrane time constant τ_m (ms).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert!(Population::builder(Model::Lif, 2).tau_m(vec![10.0, 0.0]).build().is_err()); // > 0
    /// ```
    pub fn tau_m(mut self, p: impl Into<Param>) -> Self {
        self.tau_m = p.into();
        self
    }
    /// Membrane resistance R (MΩ).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// assert!(Population::builder(Model::Lif, 1).resistance(250.0).build().is_ok());
    /// ```
    pub fn resistance(mut self, p: impl Into<Param>) -> Self {
        self.resistance = p.into();
        self
    }
    /// Voltage-reset multiplier m_v (GLIF2, GLIF4, GLIF5).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// // GLIF2 needs m_v and b_v.
    /// let no_reset = Population::builder(Model::Glif2, 1)
    ///     .adapt_rates(vec![0.02.into()]).adapt_increments(vec![1.0.into()]);
    /// assert!(no_reset.clone().build().is_err());
    /// assert!(no_reset.m_v(0.4).b_v(2.0).build().is_ok());
    /// ```
    pub fn m_v(mut self, p: impl Into<Param>) -> Self {
        self.m_v = Some(p.into());
        self
    }
    /// Voltage-reset offset b_v (mV; GLIF2, GLIF4, GLIF5).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let pop = Population::builder(Model::Glif2, 1)
    ///     .m_v(0.4).b_v(-1.0)
    ///     .adapt_rates(vec![0.02.into()]).adapt_increments(vec![1.0.into()])
    ///     .build()?;
    /// assert_eq!(pop.b_v().at(0), -1.0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn b_v(mut self, p: impl Into<Param>) -> Self {
        self.b_v = Some(p.into());
        self
    }
    /// Adaptation components with time constants τ_k (ms), e_k = exp(−Δt/τ_k).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let pop = Population::builder(Model::Alif, 1)
    ///     .adapt_time_constants(vec![20.0.into(), 500.0.into()])
    ///     .adapt_increments(vec![2.0.into(), 0.1.into()])
    ///     .build()?;
    /// assert_eq!(pop.k(), 2);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn adapt_time_constants(mut self, taus: Vec<Param>) -> Self {
        self.adaptation = Some(Adaptation::TimeConstants(taus));
        self
    }
    /// Adaptation components with rate constants λ_k (1/ms), e_k = exp(−Δt·λ_k).
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let pop = Population::builder(Model::Glif2, 1)
    ///     .m_v(0.4).b_v(2.0)
    ///     .adapt_rates(vec![0.05.into()]).adapt_increments(vec![1.0.into()])
    ///     .dt(0.1)
    ///     .build()?;
    /// assert_eq!(pop.decay_k()[0].at(0), (-0.1f64 * 0.05).exp());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn adapt_rates(mut self, rates: Vec<Param>) -> Self {
        self.adaptation = Some(Adaptation::Rates(rates));
        self
    }
    /// Adaptation components given directly as per-step decay factors e_k in [0, 1].
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// let pop = Population::builder(Model::Alif, 1)
    ///     .adapt_decay_factors(vec![0.99.into()])
    ///     .adapt_increments(vec![1.0.into()])
    ///     .build()?;
    /// assert_eq!(pop.decay_k()[0].at(0), 0.99);
    /// assert!(Population::builder(Model::Alif, 1)
    ///     .adapt_decay_factors(vec![1.5.into()])
    ///     .adapt_increments(vec![1.0.into()])
    ///     .build()
    ///     .is_err()); // not in [0, 1]
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn adapt_decay_factors(mut self, factors: Vec<Param>) -> Self {
        self.adaptation = Some(Adaptation::DecayFactors(factors));
        self
    }
    /// Any [`Adaptation`].
    ///
    /// ```
    /// use glifsim::{model::Adaptation, Model, Population};
    /// let pop = Population::builder(Model::Alif, 1)
    ///     .adaptation(Adaptation::TimeConstants(vec![20.0.into()]))
    ///     .adapt_increments(vec![1.0.into()])
    ///     .build()?;
    /// assert_eq!(pop.k(), 1);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn adaptation(mut self, a: Adaptation) -> Self {
        self.adaptation = Some(a);
        self
    }
    /// Spike increments d_k (mV), one per adaptation component.
    ///
    /// ```
    /// use glifsim::{Model, Population};
    /// // One increment per component: two components, one increment is an error.
    /// assert!(Population::builder(Model::Alif, 1)
    ///     .adapt_time_constants(vec![20.0.into(), 200.0.into()])
    ///     .adapt_increments(vec![1.0.into()])
    ///     .build()
    ///     .is_err());
    /// ```
    pub fn adapt_increments(mut self, d: Vec<Param>) -> Self {
        self.increments = Some(d);
        self
    }

    /// Check every rule and build the population.
    ///
    /// ```
    /// use glifsim::{Error, Model, Population};
    /// match Population::builder(Model::Lif, 3).tau_m(vec![10.0, -1.0, 10.0]).build() {
    ///     Err(Error::InvalidParameter { name, index, .. }) => {
    ///         assert_eq!((name, index), ("tau_m", Some(1)));
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn build(self) -> Result<Population> {
        let n = self.n;
        let model = self.model;
        if n == 0 {
            return Err(Error::Usage(
                "a population needs at least one neuron".into(),
            ));
        }
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return Err(invalid("dt", None, self.dt, "Δt must be finite and > 0"));
        }
        let check = |name: &'static str, p: &Param, pred: &dyn Fn(f64) -> bool, rule: &str| {
            if let Param::PerNeuron(v) = p {
                if v.len() != n {
                    return Err(Error::Length {
                        what: format!("per-neuron parameter {name}"),
                        expected: n,
                        got: v.len(),
                    });
                }
            }
            for (i, &x) in p.values().iter().enumerate() {
                let idx = p.is_per_neuron().then_some(i);
                if !x.is_finite() {
                    return Err(invalid(name, idx, x, "must be finite"));
                }
                if !pred(x) {
                    return Err(invalid(name, idx, x, rule));
                }
            }
            Ok(())
        };
        let any = |_: f64| true;
        check("v_rest", &self.v_rest, &any, "")?;
        check("threshold", &self.threshold, &any, "")?;
        check("t_ref", &self.t_ref, &|x| x >= 0.0, "t_ref must be ≥ 0")?;
        check("tau_m", &self.tau_m, &|x| x > 0.0, "τ_m must be > 0")?;
        check(
            "resistance",
            &self.resistance,
            &|x| x != 0.0,
            "R must be ≠ 0",
        )?;

        let th_name = if model.is_adaptive() {
            "theta_inf"
        } else {
            "v_th"
        };
        // V_rest < threshold, for every model.
        for i in 0..n {
            let (vr, th) = (self.v_rest.at(i), self.threshold.at(i));
            if vr >= th {
                let idx =
                    (self.v_rest.is_per_neuron() || self.threshold.is_per_neuron()).then_some(i);
                return Err(invalid(
                    "v_rest",
                    idx,
                    vr,
                    &format!("V_rest must be < {th_name} ({th})"),
                ));
            }
            if !self.v_rest.is_per_neuron() && !self.threshold.is_per_neuron() {
                break;
            }
        }

        let (v_reset, m_v, b_v) = match model {
            Model::Lif | Model::Glif1 | Model::Alif | Model::Glif3 => {
                if self.m_v.is_some() || self.b_v.is_some() {
                    return Err(Error::Parameter {
                        name: if self.m_v.is_some() { "m_v" } else { "b_v" },
                        reason: format!(
                            "{model} resets to V_reset; m_v and b_v belong to GLIF2, GLIF4 and GLIF5"
                        ),
                    });
                }
                let v_reset = self.v_reset.unwrap_or((-70.0).into());
                check("v_reset", &v_reset, &any, "")?;
                for i in 0..n {
                    let (vr, th) = (v_reset.at(i), self.threshold.at(i));
                    if vr >= th {
                        let idx = (v_reset.is_per_neuron() || self.threshold.is_per_neuron())
                            .then_some(i);
                        return Err(invalid(
                            "v_reset",
                            idx,
                            vr,
                            &format!("V_reset must be < {th_name} ({th})"),
                        ));
                    }
                    if !v_reset.is_per_neuron() && !self.threshold.is_per_neuron() {
                        break;
                    }
                }
                (v_reset, Param::Uniform(0.0), Param::Uniform(0.0))
            }
            Model::Glif2 | Model::Glif4 | Model::Glif5 => {
                if self.v_reset.is_some() {
                    return Err(Error::Parameter {
                        name: "v_reset",
                        reason: format!("{model} resets by (V' − V_rest)·m_v + V_rest − b_v; set m_v and b_v instead of v_reset"),
                    });
                }
                let m_v = self.m_v.ok_or(Error::Parameter {
                    name: "m_v",
                    reason: format!("{model} needs the voltage-reset multiplier m_v"),
                })?;
                let b_v = self.b_v.ok_or(Error::Parameter {
                    name: "b_v",
                    reason: format!("{model} needs the voltage-reset offset b_v (mV)"),
                })?;
                check("m_v", &m_v, &any, "")?;
                check("b_v", &b_v, &any, "")?;
                (Param::Uniform(0.0), m_v, b_v)
            }
        };

        let (decay_k, increment_k, keep_k) = if model.is_adaptive() {
            let a = self.adaptation.ok_or(Error::Parameter {
                name: "adaptation",
                reason: format!(
                    "{model} needs K ≥ 1 threshold components (time constants, rates or decay factors)"
                ),
            })?;
            let k = a.len();
            if k == 0 {
                return Err(Error::Parameter {
                    name: "adaptation",
                    reason: format!("{model} needs K ≥ 1 threshold components, got 0"),
                });
            }
            let inc = self.increments.ok_or(Error::Parameter {
                name: "adapt_increments",
                reason: format!("{model} needs one spike increment d_k per component ({k})"),
            })?;
            if inc.len() != k {
                return Err(Error::Length {
                    what: "adapt_increments (one d_k per adaptation component)".into(),
                    expected: k,
                    got: inc.len(),
                });
            }
            for p in &inc {
                check("adapt_increment", p, &any, "")?;
            }
            let keep = self.keep_k.unwrap_or_else(|| vec![Param::Uniform(1.0); k]);
            if keep.len() != k {
                return Err(Error::Length {
                    what: "adapt_reset_factors (one r_k per adaptation component)".into(),
                    expected: k,
                    got: keep.len(),
                });
            }
            for p in &keep {
                check("adapt_reset_factor", p, &any, "")?;
            }
            let dt = self.dt;
            let decay: Vec<Param> = match &a {
                Adaptation::TimeConstants(v) => {
                    for p in v {
                        check("adapt_tau", p, &|x| x > 0.0, "τ_k must be > 0")?;
                    }
                    v.iter().map(|p| p.map(|tau| (-dt / tau).exp())).collect()
                }
                Adaptation::Rates(v) => {
                    for p in v {
                        check("adapt_rate", p, &|x| x > 0.0, "λ_k must be > 0")?;
                    }
                    v.iter().map(|p| p.map(|lam| (-dt * lam).exp())).collect()
                }
                Adaptation::DecayFactors(v) => {
                    for p in v {
                        check(
                            "adapt_decay",
                            p,
                            &|x| (0.0..=1.0).contains(&x),
                            "a decay factor e_k must lie in [0, 1]",
                        )?;
                    }
                    v.clone()
                }
            };
            (decay, inc, keep)
        } else {
            if self.adaptation.is_some() || self.increments.is_some() {
                return Err(Error::Parameter {
                    name: "adaptation",
                    reason: format!(
                        "{model} has no threshold adaptation; use ALIF, GLIF2, GLIF4 or GLIF5"
                    ),
                });
            }
            if self.keep_k.is_some() {
                return Err(Error::Parameter {
                    name: "adapt_reset_factors",
                    reason: format!("{model} has no threshold adaptation"),
                });
            }
            (Vec::new(), Vec::new(), Vec::new())
        };

        // After-spike currents and the voltage threshold.
        let asc = match (model.has_asc(), self.asc) {
            (true, a) => a.unwrap_or_default(),
            (false, Some(_)) => {
                return Err(Error::Parameter {
                    name: "after_spike_currents",
                    reason: format!(
                        "{model} has no after-spike currents; use GLIF3, GLIF4 or GLIF5"
                    ),
                })
            }
            (false, None) => Vec::new(),
        };
        for a in &asc {
            check("asc_rate", &a.rate, &|x| x > 0.0, "k_j must be > 0")?;
            check("asc_amp", &a.amp, &any, "")?;
            check("asc_keep", &a.keep, &any, "")?;
        }
        let theta_v = match (model.has_theta_v(), self.theta_v) {
            (true, Some(t)) => {
                check("theta_v_a", &t.a, &any, "")?;
                check("theta_v_b", &t.b, &|x| x > 0.0, "b_v must be > 0")?;
                Some(t)
            }
            (true, None) => {
                return Err(Error::Parameter {
                    name: "voltage_threshold",
                    reason: "GLIF5 needs the voltage-dependent threshold (a_v, b_v)".into(),
                })
            }
            (false, Some(_)) => {
                return Err(Error::Parameter {
                    name: "voltage_threshold",
                    reason: format!("{model} has no voltage-dependent threshold; use GLIF5"),
                })
            }
            (false, None) => None,
        };

        let dt = self.dt;
        let decay_m = self.tau_m.map(|tau| (-dt / tau).exp());
        let coeffs =
            glif_coefficients(n, dt, &self.tau_m, &self.resistance, &asc, theta_v.as_ref());
        Ok(Population {
            model,
            n,
            dt,
            v_rest: self.v_rest,
            v_reset,
            threshold: self.threshold,
            t_ref: self.t_ref,
            tau_m: self.tau_m,
            resistance: self.resistance,
            m_v,
            b_v,
            decay_m,
            decay_k,
            increment_k,
            keep_k,
            asc,
            theta_v,
            asc_gain: coeffs.0,
            asc_decay: coeffs.1,
            thv_decay: coeffs.2,
            thv_u: coeffs.3,
            thv_w: coeffs.4,
            thv_asc: coeffs.5,
        })
    }
}

type GlifCoefficients = (Vec<Param>, Vec<Param>, Param, Param, Param, Vec<Param>);

/// The exact-integration coefficients of every neuron (one set when nothing they depend on
/// varies across neurons), as per-coefficient [`Param`]s.
fn glif_coefficients(
    n: usize,
    dt: f64,
    tau_m: &Param,
    resistance: &Param,
    asc: &[AfterSpikeCurrent],
    theta_v: Option<&VoltageThreshold>,
) -> GlifCoefficients {
    use rayon::prelude::*;
    let j = asc.len();
    if j == 0 && theta_v.is_none() {
        return (vec![], vec![], 0.0.into(), 0.0.into(), 0.0.into(), vec![]);
    }
    let per_neuron = tau_m.is_per_neuron()
        || resistance.is_per_neuron()
        || asc.iter().any(|a| a.rate.is_per_neuron())
        || theta_v.is_some_and(|t| t.a.is_per_neuron() || t.b.is_per_neuron());
    let one = |i: usize| {
        let k: Vec<f64> = asc.iter().map(|a| a.rate.at(i)).collect();
        let (a_v, b_v) = theta_v.map_or((0.0, 1.0), |t| (t.a.at(i), t.b.at(i)));
        crate::propagator::coefficients(dt, tau_m.at(i), resistance.at(i), &k, a_v, b_v)
    };
    let all: Vec<crate::propagator::Coefficients> = if per_neuron {
        (0..n).into_par_iter().map(one).collect()
    } else {
        vec![one(0)]
    };
    let column = |f: &dyn Fn(&crate::propagator::Coefficients) -> f64| -> Param {
        if per_neuron {
            Param::PerNeuron(all.iter().map(f).collect())
        } else {
            Param::Uniform(f(&all[0]))
        }
    };
    (
        (0..j).map(|i| column(&|c| c.asc_gain[i])).collect(),
        (0..j).map(|i| column(&|c| c.asc_decay[i])).collect(),
        column(&|c| c.thv_decay),
        column(&|c| c.thv_u),
        column(&|c| c.thv_w),
        (0..j).map(|i| column(&|c| c.thv_asc[i])).collect(),
    )
}

fn invalid(name: &'static str, index: Option<usize>, value: f64, rule: &str) -> Error {
    Error::InvalidParameter {
        name,
        index,
        value,
        rule: rule.to_string(),
    }
}
