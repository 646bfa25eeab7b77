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

/// The neurons whose state a run samples, and how often: after every step that brings the
/// simulator's step count to a multiple of `every` ([`Simulator::run_sampled`]).
///
/// [`Simulator::run_sampled`]: crate::Simulator::run_sampled
///
/// ```
/// let s = glifsim::Sampling { neurons: vec![0, 500], every: 10 };
/// assert_eq!(s.steps_in(95, 30), vec![100, 110, 120]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sampling {
    /// The neurons, in the order a sample lists them (as [`crate::Simulator::state_of`]).
    pub neurons: Vec<usize>,
    /// Steps between samples (≥ 1).
    pub every: u64,
}

impl Sampling {
    /// The step counts at which a run of `steps` steps from step count `start` samples.
    ///
    /// ```
    /// let s = glifsim::Sampling { neurons: vec![0], every: 100 };
    /// assert_eq!(s.steps_in(0, 250), vec![100, 200]);
    /// assert_eq!(s.steps_in(100, 100), vec![200]); // not the step count it starts at
    /// ```
    pub fn steps_in(&self, start: u64, steps: u64) -> Vec<u64> {
        let e = self.every.max(1);
        let first = (start / e + 1) * e;
        (first..=start + steps).step_by(e as usize).collect()
    }
    /// Refuse an empty period or a neuron outside a population of `n`.
    pub(crate) fn check(&self, n: usize) -> crate::Result<()> {
        if self.every == 0 {
            return Err(crate::Error::Usage(
                "sampling every 0 steps: expected ≥ 1".into(),
            ));
        }
        check_neurons(&self.neurons, n)
    }
}

/// The whole dynamic state of a population: B trials × N neurons.
///
/// Layouts: `v` and `r` are `[B][N]`; `theta` is `[B][N][K]`, the K spike-triggered threshold
/// components of each neuron side by side, followed for GLIF5 by θ_v (so `[B][N][K+1]`; empty
/// for LIF); `asc` is `[B][N][J]`, the after-spike currents of GLIF3–5 (empty otherwise).
///
/// ```
/// use glifsim::{Backend, Model, Population, Simulator};
/// let pop = Population::builder(Model::Alif, 4)
///     .adapt_time_constants(vec![20.0.into(), 200.0.into()])
///     .adapt_increments(vec![1.0.into(), 0.1.into()])
///     .build()?;
/// let st = Simulator::new(&pop, 3, Backend::Cpu)?.state()?;
/// // B = 3 trials × N = 4 neurons; K = 2 threshold components each.
/// assert_eq!((st.v.len(), st.r.len(), st.theta.len(), st.asc.len()), (12, 12, 24, 0));
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct State<R> {
    /// Membrane potential V (mV).
    pub v: Vec<R>,
    /// Refractory time remaining r (ms).
    pub r: Vec<R>,
    /// Threshold components θ_k (and θ_v for GLIF5), mV.
    pub theta: Vec<R>,
    /// After-spike currents I_j (nA).
    pub asc: Vec<R>,
}

impl<R: crate::Real> State<R> {
    /// Check shapes against B and the population, and that every value is finite.
    pub(crate) fn check(&self, trials: usize, pop: &crate::Population) -> crate::Result<()> {
        let bn = trials * pop.len();
        for (what, arr, len) in [
            ("state.v", &self.v, bn),
            ("state.r", &self.r, bn),
            ("state.theta", &self.theta, bn * pop.theta_len()),
            ("state.asc", &self.asc, bn * pop.j()),
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

/// Check one block of array `which` of a state, whose first value is value `first` of the
/// array: every value finite, and refractory times ≥ 0 (what [`State`]'s own check asks of the
/// whole state), for the simulators' `set_state_blocks`.
pub(crate) fn check_block<R: crate::Real>(
    which: StateArray,
    first: usize,
    block: &[R],
) -> crate::Result<()> {
    let what = match which {
        StateArray::V => "state.v",
        StateArray::R => "state.r",
        StateArray::Theta => "state.theta",
        StateArray::Asc => "state.asc",
    };
    if let Some(i) = block.iter().position(|x| !x.is_finite()) {
        return Err(crate::Error::NonFinite {
            what: what.into(),
            index: first + i,
            value: block[i].to_f64(),
        });
    }
    if which == StateArray::R {
        if let Some(i) = block.iter().position(|&x| x < R::ZERO) {
            return Err(crate::Error::InvalidParameter {
                name: "state.r",
                index: Some(first + i),
                value: block[i].to_f64(),
                rule: "refractory time remaining must be ≥ 0".into(),
            });
        }
    }
    Ok(())
}

/// Check that every index of a `state_of` call names a neuron of a population of `n`.
pub(crate) fn check_neurons(neurons: &[usize], n: usize) -> crate::Result<()> {
    match neurons.iter().find(|&&i| i >= n) {
        Some(i) => Err(crate::Error::Usage(format!(
            "state_of: neuron {i} is not in the population (neurons 0 to {})",
            n.saturating_sub(1)
        ))),
        None => Ok(()),
    }
}

/// One array of a [`State`], in the order a checkpoint stores them
/// ([`Simulator::state_blocks`](crate::Simulator::state_blocks) streams one).
///
/// ```
/// use glifsim::{Model, StateArray};
/// let glif5 = glifsim::bench::bench_population(Model::Glif5, 10)?;
/// // θ: K = 1 spike-triggered component and θ_v; two after-spike currents.
/// let per: Vec<usize> = StateArray::ALL.iter().map(|a| a.per_neuron(&glif5)).collect();
/// assert_eq!(per, vec![1, 1, 2, 2]);
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateArray {
    /// [`State::v`].
    V,
    /// [`State::r`].
    R,
    /// [`State::theta`].
    Theta,
    /// [`State::asc`].
    Asc,
}

impl StateArray {
    /// The four, in the order of [`State`]'s fields and of a checkpoint.
    ///
    /// ```
    /// use glifsim::StateArray;
    /// assert_eq!(StateArray::ALL[2], StateArray::Theta);
    /// ```
    pub const ALL: [StateArray; 4] = [
        StateArray::V,
        StateArray::R,
        StateArray::Theta,
        StateArray::Asc,
    ];

    /// Values per neuron and trial in this array for `pop`'s model.
    ///
    /// ```
    /// use glifsim::{Model, Population, StateArray};
    /// let lif = Population::builder(Model::Lif, 10).build()?;
    /// assert_eq!(StateArray::V.per_neuron(&lif), 1);
    /// assert_eq!(StateArray::Theta.per_neuron(&lif), 0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn per_neuron(self, pop: &crate::Population) -> usize {
        match self {
            StateArray::V | StateArray::R => 1,
            StateArray::Theta => pop.theta_len(),
            StateArray::Asc => pop.j(),
        }
    }

    /// Where each of a neuron's components (θ_1..θ_K, I_1..I_J, θ_v) is in a [`State`]: for
    /// component `cc`, entry `cc` is (the array, its values per neuron, the position among
    /// them).
    pub(crate) fn places(pop: &crate::Population) -> Vec<(StateArray, usize, usize)> {
        let mut out = vec![(StateArray::Theta, 0, 0); pop.components()];
        for a in [StateArray::Theta, StateArray::Asc] {
            let idx = a.components(pop).unwrap_or_default();
            for (q, &cc) in idx.iter().enumerate() {
                out[cc] = (a, idx.len(), q);
            }
        }
        out
    }

    /// Which of a neuron's components (θ_1..θ_K, I_1..I_J, θ_v: the layout both simulators
    /// keep them in) this array holds, in its order; None for V and r, which are not
    /// components.
    pub(crate) fn components(self, pop: &crate::Population) -> Option<Vec<usize>> {
        let (k, j, thv) = (pop.k(), pop.j(), pop.model().has_theta_v());
        match self {
            StateArray::V | StateArray::R => None,
            StateArray::Theta => Some((0..k).chain(thv.then_some(k + j)).collect()),
            StateArray::Asc => Some((k..k + j).collect()),
        }
    }
}

impl<R: Copy> State<R> {
    /// One of the four arrays.
    ///
    /// ```
    /// use glifsim::{State, StateArray};
    /// let st = State { v: vec![-65.0f32], r: vec![1.5], theta: vec![], asc: vec![] };
    /// assert_eq!(st.array(StateArray::R), &[1.5]);
    /// ```
    pub fn array(&self, which: StateArray) -> &[R] {
        match which {
            StateArray::V => &self.v,
            StateArray::R => &self.r,
            StateArray::Theta => &self.theta,
            StateArray::Asc => &self.asc,
        }
    }
    /// One of the four arrays, to change.
    ///
    /// ```
    /// use glifsim::{State, StateArray};
    /// let mut st = State { v: vec![-65.0f32, -60.0], r: vec![0.0; 2], theta: vec![], asc: vec![] };
    /// st.array_mut(StateArray::V).fill(-70.0);
    /// assert_eq!(st.v, vec![-70.0, -70.0]);
    /// ```
    pub fn array_mut(&mut self, which: StateArray) -> &mut [R] {
        match which {
            StateArray::V => &mut self.v,
            StateArray::R => &mut self.r,
            StateArray::Theta => &mut self.theta,
            StateArray::Asc => &mut self.asc,
        }
    }

    /// Gather per-neuron components `[B·N][C]` (θ_1..θ_K, I_1..I_J, θ_v) of `pop`'s model
    /// into this layout.
    pub(crate) fn from_components(
        v: Vec<R>,
        r: Vec<R>,
        comps: &[R],
        pop: &crate::Population,
    ) -> Self {
        let c = pop.components();
        let gather = |which: StateArray| -> Vec<R> {
            let idx = which.components(pop).unwrap_or_default();
            let mut out = Vec::with_capacity(v.len() * idx.len());
            for x in comps.chunks_exact(c.max(1)).take(v.len()) {
                out.extend(idx.iter().map(|&i| x[i]));
            }
            out
        };
        let (theta, asc) = (gather(StateArray::Theta), gather(StateArray::Asc));
        State { v, r, theta, asc }
    }
    /// Scatter into per-neuron components `[B·N][C]` of `pop`'s model.
    pub(crate) fn to_components(&self, pop: &crate::Population) -> Vec<R>
    where
        R: crate::Real,
    {
        let c = pop.components();
        let bn = self.v.len();
        let mut out = vec![R::ZERO; bn * c];
        for which in [StateArray::Theta, StateArray::Asc] {
            let idx = which.components(pop).unwrap_or_default();
            let arr = self.array(which);
            for (i, x) in out.chunks_exact_mut(c.max(1)).take(bn).enumerate() {
                for (q, &ci) in idx.iter().enumerate() {
                    x[ci] = arr[i * idx.len() + q];
                }
            }
        }
        out
    }
}
