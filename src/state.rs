//! Per-step options and the simulation state that both paths expose.

/// Options for one step (or every step of a run).
///
/// ```
/// use glifsim::StepOptions;
/// let o = StepOptions { freeze_adaptation: true, ..Default::default() };
/// assert!(o.refrac_lock);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct StepOptions {
    /// Refractory lock (default on): a refractory neuron holds V (and θ) instead of integrating.
    pub refrac_lock: bool,
    /// Freeze threshold adaptation for this step (no decay, no increment).
    pub freeze_adaptation: bool,
    /// Check that every input is finite (default on); turning it off skips the scan.
    pub check_input: bool,
}

impl Default for StepOptions {
    fn default() -> Self {
        StepOptions {
            refrac_lock: true,
            freeze_adaptation: false,
            check_input: true,
        }
    }
}

/// The whole dynamic state of a population: B trials × N neurons.
///
/// Layouts: `v` and `r` are `[B][N]`; `theta` is `[B][N][K]` (K threshold components of each
/// neuron side by side; empty for LIF).
#[derive(Debug, Clone, PartialEq)]
pub struct State<R> {
    /// Membrane potential V (mV).
    pub v: Vec<R>,
    /// Refractory time remaining r (ms).
    pub r: Vec<R>,
    /// Threshold components θ_k (mV), `[B][N][K]`.
    pub theta: Vec<R>,
}

impl<R: crate::Real> State<R> {
    /// Check shapes against B, N, K and that every value is finite; returns a message on error.
    pub(crate) fn check(&self, trials: usize, n: usize, k: usize) -> crate::Result<()> {
        let bn = trials * n;
        for (what, arr, len) in [
            ("state.v", &self.v, bn),
            ("state.r", &self.r, bn),
            ("state.theta", &self.theta, bn * k),
        ] {
            if arr.len() != len {
                return Err(crate::Error::Length {
                    what: what.into(),
                    expected: len,
                    got: arr.len(),
                });
            }
            crate::input::check_finite(what, arr)?;
        }
        if let Some(i) = self.r.iter().position(|&x| x < R::ZERO) {
            return Err(crate::Error::InvalidParameter {
                name: "state.r",
                index: Some(i),
                value: self.r[i].to_f64(),
                rule: "refractory time remaining must be ≥ 0".into(),
            });
        }
        Ok(())
    }
}
