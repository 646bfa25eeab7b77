//! Input currents and their checks.

use crate::error::{Error, Result};
use crate::Real;

/// Return an error naming the first non-finite value of `xs`.
///
/// ```
/// use glifsim::{input::check_finite, Error};
/// assert!(check_finite("x", &[1.0f32, 2.0]).is_ok());
/// match check_finite("x", &[1.0f32, f32::NAN]) {
///     Err(Error::NonFinite { index, .. }) => assert_eq!(index, 1),
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn check_finite<R: Real>(what: &str, xs: &[R]) -> Result<()> {
    if let Some(i) = xs.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFinite {
            what: what.to_string(),
            index: i,
            value: xs[i].to_f64(),
        });
    }
    Ok(())
}

/// Check an input array's length (`expected` values) and that every value is finite.
///
/// ```
/// use glifsim::{input::check_input, Error};
/// assert!(check_input("inputs", &[0.0f32; 6], 6, true).is_ok());
/// assert!(matches!(check_input("inputs", &[0.0f32; 5], 6, true), Err(Error::Length { .. })));
/// // With the scan off, only the length is checked.
/// assert!(check_input("inputs", &[f32::INFINITY], 1, false).is_ok());
/// ```
pub fn check_input<R: Real>(what: &str, xs: &[R], expected: usize, finite: bool) -> Result<()> {
    if xs.len() != expected {
        return Err(Error::Length {
            what: what.to_string(),
            expected,
            got: xs.len(),
        });
    }
    if finite {
        check_finite(what, xs)?;
    }
    Ok(())
}

use crate::model::Param;

pub use crate::noise::{noise_block, noise_draw, noise_gain, noise_value, philox4x32_10};

/// Gaussian white noise computed on the device (and identically on the CPU path): every step,
/// neuron and trial draws an independent current of mean `mean` and standard deviation `std`
/// (nA, per step). Each draw is one 32-bit word of a Philox4x32-10 block keyed by `seed` and
/// counted by (neuron, trial, step ÷ 4), turned into a normal variate by a table of the
/// inverse normal CDF (see [`crate::noise`]): support ±6.3σ, and only integer arithmetic, table
/// reads and multiply-adds, so every driver produces the same bits.
///
/// ```
/// use glifsim::{input::{Drive, Noise}, CpuSim, Model, Population, StepOptions};
/// let pop = Population::builder(Model::Lif, 200).build()?;
/// let drive = Drive {
///     bias: 14.0.into(), // V alone would settle 1 mV below threshold
///     noise: Some(Noise { mean: 0.0.into(), std: 30.0.into(), seed: 42 }),
///     schedule: vec![],
/// };
/// // The same seed gives the same spikes; another seed, others.
/// let run = |seed| -> glifsim::Result<_> {
///     let mut sim = CpuSim::<f32>::new(&pop, 1, glifsim::Arith::Separate)?;
///     let mut d = drive.clone();
///     d.noise.as_mut().unwrap().seed = seed;
///     sim.set_drive(d)?;
///     sim.run_driven(1000, StepOptions::default())
/// };
/// assert!(run(42)?.count() > 0);
/// assert_eq!(run(42)?, run(42)?);
/// assert_ne!(run(42)?, run(43)?);
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Noise {
    /// Mean current (nA).
    pub mean: Param,
    /// Standard deviation of the per-step current (nA).
    pub std: Param,
    /// Generator key.
    pub seed: u64,
}

/// The currents computed on the device each step, added to any host-streamed input:
/// `I = fma(draw, gain, (host + (bias + mean)) + schedule(step))`.
///
/// ```
/// use glifsim::input::{Drive, Noise};
/// let d = Drive { bias: 12.0.into(), noise: Some(Noise { mean: 0.0.into(), std: 4.0.into(), seed: 1 }), schedule: vec![(100, 5.0)] };
/// assert_eq!(d.schedule_at(99), 0.0);
/// assert_eq!(d.schedule_at(150), 5.0);
/// ```
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Drive {
    /// Constant bias current (nA), uniform or per neuron.
    pub bias: Param,
    /// Gaussian white noise.
    pub noise: Option<Noise>,
    /// Piecewise-constant current (nA) for every neuron: `(from_step, value)` pairs sorted by
    /// step; the value before the first pair is 0.
    pub schedule: Vec<(u64, f64)>,
}

impl Default for Param {
    fn default() -> Self {
        Param::Uniform(0.0)
    }
}

impl Drive {
    /// The schedule's value at global step `step`.
    ///
    /// ```
    /// use glifsim::input::Drive;
    /// let d = Drive { schedule: vec![(10, 1.0), (20, -2.0)], ..Default::default() };
    /// assert_eq!((d.schedule_at(0), d.schedule_at(10), d.schedule_at(25)), (0.0, 1.0, -2.0));
    /// ```
    pub fn schedule_at(&self, step: u64) -> f64 {
        self.schedule
            .iter()
            .take_while(|(s, _)| *s <= step)
            .last()
            .map_or(0.0, |&(_, v)| v)
    }
    /// Whether this drive adds nothing.
    ///
    /// ```
    /// use glifsim::input::Drive;
    /// assert!(Drive::default().is_zero());
    /// assert!(!Drive { bias: 1.0.into(), ..Default::default() }.is_zero());
    /// ```
    pub fn is_zero(&self) -> bool {
        self.bias.values().iter().all(|&b| b == 0.0)
            && self.noise.is_none()
            && self.schedule.iter().all(|&(_, v)| v == 0.0)
    }
    /// Check values and per-neuron lengths against `n` neurons.
    ///
    /// ```
    /// use glifsim::input::{Drive, Noise};
    /// let bad_std = Drive {
    ///     noise: Some(Noise { mean: 0.0.into(), std: (-1.0).into(), seed: 0 }),
    ///     ..Default::default()
    /// };
    /// assert!(bad_std.validate(10).is_err());
    /// let unsorted = Drive { schedule: vec![(20, 1.0), (10, 0.0)], ..Default::default() };
    /// assert!(unsorted.validate(10).is_err());
    /// let short = Drive { bias: vec![1.0; 9].into(), ..Default::default() };
    /// assert!(short.validate(10).is_err());
    /// ```
    pub fn validate(&self, n: usize) -> Result<()> {
        let mut params: Vec<(&str, &Param)> = vec![("drive.bias", &self.bias)];
        if let Some(z) = &self.noise {
            params.push(("drive.noise.mean", &z.mean));
            params.push(("drive.noise.std", &z.std));
        }
        for (what, p) in params {
            if let Param::PerNeuron(v) = p {
                if v.len() != n {
                    return Err(Error::Length {
                        what: what.into(),
                        expected: n,
                        got: v.len(),
                    });
                }
            }
            check_finite(what, p.values())?;
        }
        if let Some(z) = &self.noise {
            if let Some(i) = z.std.values().iter().position(|&s| s < 0.0) {
                return Err(Error::InvalidParameter {
                    name: "drive.noise.std",
                    index: z.std.is_per_neuron().then_some(i),
                    value: z.std.values()[i],
                    rule: "a standard deviation must be ≥ 0".into(),
                });
            }
        }
        let sched: Vec<f64> = self.schedule.iter().map(|s| s.1).collect();
        check_finite("drive.schedule", &sched)?;
        if self.schedule.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(Error::Usage(
                "drive.schedule: steps must be strictly increasing".into(),
            ));
        }
        Ok(())
    }
    /// bias + mean per neuron, in f64 (rounded once by each path).
    pub(crate) fn offset(&self, n: usize) -> Param {
        match &self.noise {
            Some(z) => self.bias.zip(&z.mean, n, |a, b| a + b),
            None => self.bias.clone(),
        }
    }
    /// Noise gain per neuron (0 without noise).
    pub(crate) fn gain(&self) -> Param {
        match &self.noise {
            Some(z) => z.std.map(noise_gain),
            None => Param::Uniform(0.0),
        }
    }
    /// The generator seed (0 without noise).
    pub(crate) fn seed(&self) -> u64 {
        self.noise.as_ref().map_or(0, |z| z.seed)
    }
}
