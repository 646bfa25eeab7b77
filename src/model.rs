//! Model definitions, parameters and their validation (`MODELS.md`, "Models" and "Validation").
//!
//! A [`Population`] is built through [`PopulationBuilder`], which checks every rule of the spec
//! and returns [`Error::InvalidParameter`] naming the parameter, the neuron (for per-neuron
//! arrays) and the value. All values are kept in f64; each simulator rounds them once to its
//! precision. Decay factors are computed here, on the host, in f64.

use crate::error::{Error, Result};

/// The neuron models glifsim simulates.
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
}

impl Model {
    /// Whether the model has threshold adaptation (θ_k state).
    pub fn is_adaptive(self) -> bool {
        matches!(self, Model::Alif | Model::Glif2)
    }
    /// The canonical name (`LIF`, `GLIF1`, `ALIF`, `GLIF2`).
    pub fn name(self) -> &'static str {
        match self {
            Model::Lif => "LIF",
            Model::Glif1 => "GLIF1",
            Model::Alif => "ALIF",
            Model::Glif2 => "GLIF2",
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
            other => Err(Error::Usage(format!(
                "unknown model '{other}': expected LIF, GLIF1, ALIF or GLIF2"
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
    #[inline]
    pub fn at(&self, n: usize) -> f64 {
        match self {
            Param::Uniform(x) => *x,
            Param::PerNeuron(v) => v[n],
        }
    }
    /// Whether the parameter has one value per neuron.
    pub fn is_per_neuron(&self) -> bool {
        matches!(self, Param::PerNeuron(_))
    }
    /// Apply `f` to every value, keeping the shape.
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Param {
        match self {
            Param::Uniform(x) => Param::Uniform(f(*x)),
            Param::PerNeuron(v) => Param::PerNeuron(v.iter().map(|&x| f(x)).collect()),
        }
    }
    /// Combine two parameters element-wise (per neuron if either is).
    pub fn zip(&self, other: &Param, n: usize, f: impl Fn(f64, f64) -> f64) -> Param {
        match (self, other) {
            (Param::Uniform(a), Param::Uniform(b)) => Param::Uniform(f(*a, *b)),
            _ => Param::PerNeuron((0..n).map(|i| f(self.at(i), other.at(i))).collect()),
        }
    }
    /// Values as a slice: one value, or N.
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
#[derive(Debug, Clone, PartialEq)]
pub enum Adaptation {
    /// Time constants τ_k in ms (ALIF): e_k = exp(−Δt/τ_k).
    TimeConstants(Vec<Param>),
    /// Rate constants λ_k in 1/ms (GLIF2): e_k = exp(−Δt·λ_k).
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
    /// V_reset (LIF, ALIF); unused (zero) for GLIF2.
    pub(crate) v_reset: Param,
    /// V_th (LIF) or Θ_∞ (ALIF, GLIF2).
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
}

impl Population {
    /// Start describing a population of `n` neurons of `model`.
    pub fn builder(model: Model, n: usize) -> PopulationBuilder {
        PopulationBuilder::new(model, n)
    }
    /// The model.
    pub fn model(&self) -> Model {
        self.model
    }
    /// Number of neurons N.
    pub fn len(&self) -> usize {
        self.n
    }
    /// Always false: a population has at least one neuron.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// Number of threshold components K (0 for LIF/GLIF1).
    pub fn k(&self) -> usize {
        self.decay_k.len()
    }
    /// The time step Δt in ms.
    pub fn dt(&self) -> f64 {
        self.dt
    }
    /// V_rest (mV).
    pub fn v_rest(&self) -> &Param {
        &self.v_rest
    }
    /// V_reset (mV; LIF and ALIF).
    pub fn v_reset(&self) -> &Param {
        &self.v_reset
    }
    /// V_th (LIF) or Θ_∞ (ALIF, GLIF2), mV.
    pub fn threshold(&self) -> &Param {
        &self.threshold
    }
    /// Refractory period t_ref (ms).
    pub fn t_ref(&self) -> &Param {
        &self.t_ref
    }
    /// Membrane time constant τ_m (ms).
    pub fn tau_m(&self) -> &Param {
        &self.tau_m
    }
    /// Resistance R (MΩ).
    pub fn resistance(&self) -> &Param {
        &self.resistance
    }
    /// GLIF2 voltage-reset multiplier m_v.
    pub fn m_v(&self) -> &Param {
        &self.m_v
    }
    /// GLIF2 voltage-reset offset b_v (mV).
    pub fn b_v(&self) -> &Param {
        &self.b_v
    }
    /// Membrane decay factor e_m = exp(−Δt/τ_m), in f64.
    pub fn decay_m(&self) -> &Param {
        &self.decay_m
    }
    /// Adaptation decay factors e_k, in f64.
    pub fn decay_k(&self) -> &[Param] {
        &self.decay_k
    }
    /// Adaptation increments d_k (mV).
    pub fn increment_k(&self) -> &[Param] {
        &self.increment_k
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
        v
    }
}

/// Builder for [`Population`]; `build` validates every rule of the spec.
///
/// Defaults: Δt = 0.1 ms, V_rest = −65 mV, V_reset = −70 mV, V_th = Θ_∞ = −50 mV,
/// t_ref = 2 ms, τ_m = 20 ms, R = 1 MΩ. ALIF and GLIF2 need their adaptation components;
/// GLIF2 needs m_v and b_v.
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
}

impl PopulationBuilder {
    /// A builder with the defaults listed on the type.
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
        }
    }
    /// Time step Δt (ms).
    pub fn dt(mut self, dt: f64) -> Self {
        self.dt = dt;
        self
    }
    /// Resting potential V_rest (mV).
    pub fn v_rest(mut self, p: impl Into<Param>) -> Self {
        self.v_rest = p.into();
        self
    }
    /// Reset potential V_reset (mV; LIF, GLIF1, ALIF).
    pub fn v_reset(mut self, p: impl Into<Param>) -> Self {
        self.v_reset = Some(p.into());
        self
    }
    /// Firing threshold V_th (mV; LIF, GLIF1). Same slot as [`Self::theta_inf`].
    pub fn v_th(mut self, p: impl Into<Param>) -> Self {
        self.threshold = p.into();
        self
    }
    /// Equilibrium threshold Θ_∞ (mV; ALIF, GLIF2). Same slot as [`Self::v_th`].
    pub fn theta_inf(mut self, p: impl Into<Param>) -> Self {
        self.threshold = p.into();
        self
    }
    /// Refractory period t_ref (ms).
    pub fn t_ref(mut self, p: impl Into<Param>) -> Self {
        self.t_ref = p.into();
        self
    }
    /// Membrane time constant τ_m (ms).
    pub fn tau_m(mut self, p: impl Into<Param>) -> Self {
        self.tau_m = p.into();
        self
    }
    /// Membrane resistance R (MΩ).
    pub fn resistance(mut self, p: impl Into<Param>) -> Self {
        self.resistance = p.into();
        self
    }
    /// GLIF2 voltage-reset multiplier m_v.
    pub fn m_v(mut self, p: impl Into<Param>) -> Self {
        self.m_v = Some(p.into());
        self
    }
    /// GLIF2 voltage-reset offset b_v (mV).
    pub fn b_v(mut self, p: impl Into<Param>) -> Self {
        self.b_v = Some(p.into());
        self
    }
    /// Adaptation components with time constants τ_k (ms), e_k = exp(−Δt/τ_k).
    pub fn adapt_time_constants(mut self, taus: Vec<Param>) -> Self {
        self.adaptation = Some(Adaptation::TimeConstants(taus));
        self
    }
    /// Adaptation components with rate constants λ_k (1/ms), e_k = exp(−Δt·λ_k).
    pub fn adapt_rates(mut self, rates: Vec<Param>) -> Self {
        self.adaptation = Some(Adaptation::Rates(rates));
        self
    }
    /// Adaptation components given directly as per-step decay factors e_k in [0, 1].
    pub fn adapt_decay_factors(mut self, factors: Vec<Param>) -> Self {
        self.adaptation = Some(Adaptation::DecayFactors(factors));
        self
    }
    /// Any [`Adaptation`].
    pub fn adaptation(mut self, a: Adaptation) -> Self {
        self.adaptation = Some(a);
        self
    }
    /// Spike increments d_k (mV), one per adaptation component.
    pub fn adapt_increments(mut self, d: Vec<Param>) -> Self {
        self.increments = Some(d);
        self
    }

    /// Check every rule and build the population.
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
            Model::Lif | Model::Glif1 | Model::Alif => {
                if self.m_v.is_some() || self.b_v.is_some() {
                    return Err(Error::Parameter {
                        name: if self.m_v.is_some() { "m_v" } else { "b_v" },
                        reason: format!("{model} resets to V_reset; m_v and b_v belong to GLIF2"),
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
            Model::Glif2 => {
                if self.v_reset.is_some() {
                    return Err(Error::Parameter {
                        name: "v_reset",
                        reason: "GLIF2 resets by (V' − V_rest)·m_v + V_rest − b_v; set m_v and b_v instead of v_reset".into(),
                    });
                }
                let m_v = self.m_v.ok_or(Error::Parameter {
                    name: "m_v",
                    reason: "GLIF2 needs the voltage-reset multiplier m_v".into(),
                })?;
                let b_v = self.b_v.ok_or(Error::Parameter {
                    name: "b_v",
                    reason: "GLIF2 needs the voltage-reset offset b_v (mV)".into(),
                })?;
                check("m_v", &m_v, &any, "")?;
                check("b_v", &b_v, &any, "")?;
                (Param::Uniform(0.0), m_v, b_v)
            }
        };

        let (decay_k, increment_k) = if model.is_adaptive() {
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
            (decay, inc)
        } else {
            if self.adaptation.is_some() || self.increments.is_some() {
                return Err(Error::Parameter {
                    name: "adaptation",
                    reason: format!("{model} has no threshold adaptation; use ALIF or GLIF2"),
                });
            }
            (Vec::new(), Vec::new())
        };

        let dt = self.dt;
        let decay_m = self.tau_m.map(|tau| (-dt / tau).exp());
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
        })
    }
}

fn invalid(name: &'static str, index: Option<usize>, value: f64, rule: &str) -> Error {
    Error::InvalidParameter {
        name,
        index,
        value,
        rule: rule.to_string(),
    }
}
