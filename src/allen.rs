//! Loading the Allen Institute's fitted GLIF models: the neuron-config JSON that AllenSDK's
//! `GlifNeuron` takes (SI units), converted to glifsim's units and parameters.
//!
//! | AllenSDK (SI) | glifsim (mV, ms, nA, MΩ) |
//! |---|---|
//! | `El` (V) | V_rest = El·10³ |
//! | `R_input` (Ω) / coeffs `G` | R = R_input / (10⁶·coeff_G) |
//! | `C` (F) / coeffs `C` | τ_m = R_input·C·coeff_C / coeff_G · 10³ |
//! | `th_inf` (V) / coeffs `th_inf` | V_th or Θ_∞ = th_inf·coeff·10³ (same frame as El) |
//! | `spike_cut_length` n, `dt` (s) | t_ref = (n + ½)·Δt: n steps held after the spike step, as AllenSDK holds them (0 for n = 0); Δt = dt·10³ |
//! | voltage reset `zero` | V_reset = V_rest (GLIF1, GLIF3) |
//! | voltage reset `v_before` (a, b) | m_v = a, b_v = −b·10³ (b is −δV) |
//! | threshold `spike_component` / `three_components_exact` (a_spike, b_spike) | one θ_k: d = a_spike·10³ mV, λ = b_spike·10⁻³ /ms |
//! | `three_components_exact` (a_voltage, b_voltage) / coeffs `a`, `b` | θ_v: a_v = a_voltage·coeff_a·10⁻³, b_v = b_voltage·coeff_b·10⁻³ /ms |
//! | `asc_tau_array` (s), `asc_amp_array` (A) / coeffs, reset `sum` r | k_j = 1/(τ_j·10³), δI_j = amp·coeff·10⁹ nA, f_j = r_j·exp(−k_j·Δt·(n+1)) |
//! | the spike component's reset | r_k = exp(−λ·Δt·(n+1)) (θ_k ← r_k·θ_k + d on a spike) |
//!
//! AllenSDK advances what a current or threshold component held before a spike through the
//! spike cut, while its new increment counts from the end of the cut; glifsim's refractory
//! lock holds state instead, so the loader folds that decay into the reset factors (both
//! exp(…·(n+1)) to include the spike step; n = 0 leaves them at r_j and 1).
//! | `init_voltage`, `init_AScurrents` | initial V (mV), I_j (nA) |
//!
//! The model follows from the methods: GLIF1 (no currents, threshold `inf`, reset `zero`),
//! GLIF2 (`spike_component`, `v_before`), GLIF3 (currents `exp`, `inf`, `zero`), GLIF4
//! (currents, `spike_component`, `v_before`), GLIF5 (currents, `three_components_exact`).
//!
//! ```
//! // An AllenSDK GLIF1 neuron config (SI units), as `GlifNeuron.from_dict` takes it.
//! let cfg = serde_json::json!({
//!     "El": 0.0, "dt": 5e-05, "R_input": 1.06e8, "C": 5.87e-11, "th_inf": 0.0272,
//!     "spike_cut_length": 75, "asc_tau_array": [1.0], "asc_amp_array": [0.0],
//!     "init_voltage": 0.0, "init_threshold": 0.0272, "init_AScurrents": [0.0],
//!     "coeffs": {"th_inf": 1.0, "C": 1.0, "G": 1.0, "a": 1.0, "b": 1.0, "asc_amp_array": [1.0]},
//!     "voltage_dynamics_method": {"name": "linear_forward_euler", "params": {}},
//!     "AScurrent_dynamics_method": {"name": "none", "params": {}},
//!     "AScurrent_reset_method": {"name": "none", "params": {}},
//!     "voltage_reset_method": {"name": "zero", "params": {}},
//!     "threshold_dynamics_method": {"name": "inf", "params": {}},
//!     "threshold_reset_method": {"name": "inf", "params": {}}
//! });
//! let g = glifsim::allen::from_neuron_config(&cfg, 100, "example")?;
//! assert_eq!(g.population.model(), glifsim::Model::Glif1);
//! assert_eq!(g.dt, 0.05); // ms
//! # Ok::<(), glifsim::Error>(())
//! ```

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{AfterSpikeCurrent, Model, Param, Population};
use crate::{Real, State};

/// A fitted GLIF neuron converted from AllenSDK's neuron config.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/allen/a05_glif5_step.json");
/// let g = glifsim::allen::load(path, 10)?;
/// assert_eq!(g.population.model(), glifsim::Model::Glif5);
/// assert_eq!((g.dt, g.spike_cut_length, g.population.len()), (0.05, 75, 10));
/// assert_eq!(g.init_asc.len(), g.population.j());
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct AllenGlif {
    /// The population (every neuron with the fitted parameters).
    pub population: Population,
    /// Time step (ms).
    pub dt: f64,
    /// AllenSDK's `spike_cut_length` (steps).
    pub spike_cut_length: usize,
    /// Initial voltage (mV).
    pub init_voltage: f64,
    /// Initial after-spike currents (nA).
    pub init_asc: Vec<f64>,
}

impl AllenGlif {
    /// The initial state for `trials` trials (θ components start at 0).
    ///
    /// ```
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/allen/a03_glif3_step.json");
    /// let g = glifsim::allen::load(path, 4)?;
    /// let st = g.initial_state::<f64>(2);
    /// assert_eq!(st.v, vec![g.population.v_rest().at(0) + g.init_voltage; 8]);
    /// assert_eq!(st.asc.len(), 8 * g.population.j());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn initial_state<R: Real>(&self, trials: usize) -> State<R> {
        let n = self.population.len() * trials;
        State {
            v: vec![R::from_f64(self.init_voltage); n],
            r: vec![R::ZERO; n],
            theta: vec![R::ZERO; n * self.population.theta_len()],
            asc: (0..n)
                .flat_map(|_| self.init_asc.iter().map(|&x| R::from_f64(x)))
                .collect(),
        }
    }
}

fn num(v: &Value, path: &str, field: &str) -> Result<f64> {
    v.get(field).and_then(Value::as_f64).ok_or_else(|| {
        Error::format(
            path,
            format!("neuron config: expected a number at '{field}'"),
        )
    })
}

fn nums(v: &Value, path: &str, field: &str) -> Result<Vec<f64>> {
    match v.get(field) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_f64().ok_or_else(|| {
                    Error::format(path, format!("neuron config: '{field}' must hold numbers"))
                })
            })
            .collect(),
        _ => Err(Error::format(
            path,
            format!("neuron config: expected an array at '{field}'"),
        )),
    }
}

fn method<'a>(cfg: &'a Value, path: &str, field: &str) -> Result<(&'a str, &'a Value)> {
    let m = cfg
        .get(field)
        .ok_or_else(|| Error::format(path, format!("neuron config: missing '{field}'")))?;
    let name = m
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::format(path, format!("neuron config: '{field}' has no name")))?;
    Ok((name, m.get("params").unwrap_or(&Value::Null)))
}

fn coeff(cfg: &Value, name: &str) -> f64 {
    cfg.get("coeffs")
        .and_then(|c| c.get(name))
        .and_then(Value::as_f64)
        .unwrap_or(1.0)
}

/// Convert an AllenSDK neuron config (the JSON object `GlifNeuron.from_dict` takes) into `n`
/// identical glifsim neurons. `path` names the source in error messages.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/allen/a02_glif2_step.json");
/// let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
/// let g = glifsim::allen::from_neuron_config(&file["neuron_config"], 1, "a02")?;
/// assert_eq!(g.population.model(), glifsim::Model::Glif2);
/// // A config without its time step is refused, naming the source.
/// let mut bad = file["neuron_config"].clone();
/// bad.as_object_mut().unwrap().remove("dt");
/// let e = glifsim::allen::from_neuron_config(&bad, 1, "a02").unwrap_err();
/// assert!(e.to_string().contains("a02"), "{e}");
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn from_neuron_config(cfg: &Value, n: usize, path: &str) -> Result<AllenGlif> {
    let el = num(cfg, path, "El")?;
    let dt_s = num(cfg, path, "dt")?;
    let r_input = num(cfg, path, "R_input")?;
    let c = num(cfg, path, "C")?;
    let th_inf = num(cfg, path, "th_inf")? * coeff(cfg, "th_inf");
    let cut = cfg
        .get("spike_cut_length")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            Error::format(
                path,
                "neuron config: expected an integer 'spike_cut_length'",
            )
        })? as usize;
    let (g_coeff, c_coeff) = (coeff(cfg, "G"), coeff(cfg, "C"));
    let dt = dt_s * 1e3;
    let resistance = r_input / g_coeff / 1e6;
    let tau_m = r_input / g_coeff * c * c_coeff * 1e3;
    let v_rest = el * 1e3;
    // AllenSDK shows the reset values n steps after the spike and integrates from the step
    // after: n steps held, which the spec's countdown gives for t_ref anywhere in (n, n+1]·Δt.
    let t_ref = if cut == 0 {
        0.0
    } else {
        (cut as f64 + 0.5) * dt
    };

    let (asc_dyn, _) = method(cfg, path, "AScurrent_dynamics_method")?;
    let (v_reset_name, v_reset_params) = method(cfg, path, "voltage_reset_method")?;
    let (th_dyn, th_params) = method(cfg, path, "threshold_dynamics_method")?;
    let has_asc = match asc_dyn {
        "none" => false,
        "exp" => true,
        other => {
            return Err(Error::format(
                path,
                format!(
                    "AScurrent_dynamics_method '{other}' is not supported (expected none or exp)"
                ),
            ))
        }
    };
    let glif_reset = match v_reset_name {
        "zero" => false,
        "v_before" => true,
        other => {
            return Err(Error::format(
                path,
                format!(
                    "voltage_reset_method '{other}' is not supported (expected zero or v_before)"
                ),
            ))
        }
    };
    let (spike_comp, volt_comp) = match th_dyn {
        "inf" => (false, false),
        "spike_component" => (true, false),
        "three_components_exact" => (true, true),
        other => {
            return Err(Error::format(path, format!("threshold_dynamics_method '{other}' is not supported (expected inf, spike_component or three_components_exact)")))
        }
    };
    let model = match (has_asc, spike_comp, volt_comp, glif_reset) {
        (false, false, false, false) => Model::Glif1,
        (false, true, false, true) => Model::Glif2,
        (true, false, false, false) => Model::Glif3,
        (true, true, false, true) => Model::Glif4,
        (true, true, true, true) => Model::Glif5,
        _ => {
            return Err(Error::format(path, format!(
                "this combination of methods (currents {asc_dyn}, threshold {th_dyn}, reset {v_reset_name}) is not one of GLIF1-5"
            )))
        }
    };
    let mut b = Population::builder(model, n)
        .dt(dt)
        .v_rest(v_rest)
        .tau_m(tau_m)
        .resistance(resistance)
        .t_ref(t_ref)
        .v_th(th_inf * 1e3);
    if glif_reset {
        b = b
            .m_v(num(v_reset_params, path, "a")?)
            .b_v(-num(v_reset_params, path, "b")? * 1e3);
    } else {
        b = b.v_reset(v_rest);
    }
    // AllenSDK advances what a component held before a spike through the spike step and the
    // cut (`exp(−rate·dt·cut)` after one step of decay), while the new increment counts from
    // the end of the cut. glifsim holds components through the refractory period (and the
    // spike step), so the old part is scaled on the spike instead: r = exp(−rate·Δt·(cut+1))
    // (cut = 0: the spike step's own decay is applied as usual, r = 1).
    let advance = |rate_per_ms: f64| {
        if cut == 0 {
            1.0
        } else {
            (-rate_per_ms * dt * (cut as f64 + 1.0)).exp()
        }
    };
    if spike_comp {
        let lambda = num(th_params, path, "b_spike")? * 1e-3;
        b = b
            .adapt_rates(vec![Param::Uniform(lambda)])
            .adapt_increments(vec![Param::Uniform(num(th_params, path, "a_spike")? * 1e3)])
            .adapt_reset_factors(vec![Param::Uniform(advance(lambda))]);
    }
    if volt_comp {
        b = b.voltage_threshold(
            num(th_params, path, "a_voltage")? * coeff(cfg, "a") * 1e-3,
            num(th_params, path, "b_voltage")? * coeff(cfg, "b") * 1e-3,
        );
    }
    let mut init_asc = Vec::new();
    if has_asc {
        let taus = nums(cfg, path, "asc_tau_array")?;
        let amps = nums(cfg, path, "asc_amp_array")?;
        let (_, reset_params) = method(cfg, path, "AScurrent_reset_method")?;
        let keep = nums(reset_params, path, "r").unwrap_or_else(|_| vec![1.0; taus.len()]);
        let amp_coeffs: Vec<f64> = cfg
            .get("coeffs")
            .and_then(|c| c.get("asc_amp_array"))
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(1.0)).collect())
            .unwrap_or_else(|| vec![1.0; amps.len()]);
        if amps.len() != taus.len() || keep.len() != taus.len() || amp_coeffs.len() != taus.len() {
            return Err(Error::format(path, "asc_tau_array, asc_amp_array, its coeffs and AScurrent_reset_method r must have the same length"));
        }
        let asc = (0..taus.len())
            .map(|j| {
                let k = 1.0 / (taus[j] * 1e3);
                AfterSpikeCurrent {
                    rate: Param::Uniform(k),
                    amp: Param::Uniform(amps[j] * amp_coeffs[j] * 1e9),
                    keep: Param::Uniform(keep[j] * advance(k)),
                }
            })
            .collect();
        b = b.after_spike_currents(asc);
        init_asc = match cfg.get("init_AScurrents") {
            Some(Value::Array(a)) => a.iter().map(|x| x.as_f64().unwrap_or(0.0) * 1e9).collect(),
            _ => vec![0.0; taus.len()],
        };
    }
    let population = b
        .build()
        .map_err(|e| Error::format(path, format!("converted parameters: {e}")))?;
    let init_voltage = cfg
        .get("init_voltage")
        .and_then(Value::as_f64)
        .unwrap_or(el)
        * 1e3;
    Ok(AllenGlif {
        population,
        dt,
        spike_cut_length: cut,
        init_voltage,
        init_asc,
    })
}

/// Read a neuron-config JSON file (or any JSON object holding one under `neuron_config`).
///
/// ```
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/allen");
/// for f in ["a01_glif1_step.json", "a04_glif4_step.json"] {
///     let g = glifsim::allen::load(format!("{dir}/{f}"), 100)?;
///     println!("{f}: {} × {}", g.population.model(), g.population.len());
/// }
/// assert!(glifsim::allen::load(format!("{dir}/missing.json"), 1).is_err());
/// # Ok::<(), glifsim::Error>(())
/// ```
pub fn load(path: impl AsRef<Path>, n: usize) -> Result<AllenGlif> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Error::format(path, format!("not valid JSON: {e}")))?;
    let cfg = v.get("neuron_config").unwrap_or(&v);
    from_neuron_config(cfg, n, &path.display().to_string())
}
