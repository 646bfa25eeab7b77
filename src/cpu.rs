//! The CPU reference path: a literal implementation of `MODELS.md`, generic over f32 and f64.
//!
//! [`update_neuron`] is the CPU twin of the WGSL function `update_neuron` in
//! `shaders/step.wgsl`: the same operations in the same order, each product that feeds a sum
//! written as one [`Arith::fma`] where the shader writes `fma()`. The numbered comments are the
//! steps of the spec and appear in both files.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::frame::{words_per_trial, SpikeFrame, SpikeRecord};
use crate::input::{check_input, noise_draw, Drive};
use crate::model::{Model, Param, Population};
use crate::state::{State, StepOptions};
use crate::{Arith, Real};

/// Below this many neuron-trials per step the CPU path runs on one thread.
const PARALLEL_MIN: usize = 1 << 15;
/// Neurons per parallel block (a multiple of 32, so blocks own whole spike words).
const BLOCK: usize = 4096;

/// A parameter rounded once to the simulation precision: one value, or one per neuron.
#[derive(Debug, Clone)]
struct P<R> {
    values: Vec<R>,
    per_neuron: bool,
}

impl<R: Real> P<R> {
    fn new(p: &Param) -> Self {
        P {
            values: p.values().iter().map(|&x| R::from_f64(x)).collect(),
            per_neuron: p.is_per_neuron(),
        }
    }
    #[inline(always)]
    fn at(&self, n: usize) -> R {
        if self.per_neuron {
            self.values[n]
        } else {
            self.values[0]
        }
    }
}

/// All parameters of a population, in precision R.
#[derive(Debug, Clone)]
struct Params<R> {
    glif2: bool,
    adaptive: bool,
    dt: R,
    v_rest: P<R>,
    v_reset: P<R>,
    threshold: P<R>,
    t_ref: P<R>,
    resistance: P<R>,
    decay_m: P<R>,
    m_v: P<R>,
    b_v: P<R>,
    decay_k: Vec<P<R>>,
    increment_k: Vec<P<R>>,
}

impl<R: Real> Params<R> {
    fn new(pop: &Population) -> Self {
        Params {
            glif2: pop.model == Model::Glif2,
            adaptive: pop.model.is_adaptive(),
            dt: R::from_f64(pop.dt),
            v_rest: P::new(&pop.v_rest),
            v_reset: P::new(&pop.v_reset),
            threshold: P::new(&pop.threshold),
            t_ref: P::new(&pop.t_ref),
            resistance: P::new(&pop.resistance),
            decay_m: P::new(&pop.decay_m),
            m_v: P::new(&pop.m_v),
            b_v: P::new(&pop.b_v),
            decay_k: pop.decay_k.iter().map(P::new).collect(),
            increment_k: pop.increment_k.iter().map(P::new).collect(),
        }
    }
}

/// The parameters of one neuron, gathered for one update.
#[derive(Debug, Clone, Copy)]
pub struct NeuronParams<'a, R> {
    /// Δt.
    pub dt: R,
    /// V_rest.
    pub v_rest: R,
    /// V_reset (LIF, ALIF).
    pub v_reset: R,
    /// V_th or Θ_∞.
    pub threshold: R,
    /// t_ref.
    pub t_ref: R,
    /// R.
    pub resistance: R,
    /// e_m.
    pub decay_m: R,
    /// m_v (GLIF2).
    pub m_v: R,
    /// b_v (GLIF2).
    pub b_v: R,
    /// GLIF2 voltage reset instead of V_reset.
    pub glif2: bool,
    /// Whether the model has θ components.
    pub adaptive: bool,
    /// e_k of this neuron (K values).
    pub decay_k: &'a [R],
    /// d_k of this neuron (K values).
    pub increment_k: &'a [R],
}

/// One step of one neuron in one trial, exactly as `MODELS.md` orders it.
///
/// `theta` holds this neuron's K components and is updated in place. Returns the spike bit.
/// The WGSL twin is `update_neuron` in `shaders/step.wgsl`.
#[inline(always)]
pub fn update_neuron<R: Real>(
    p: &NeuronParams<'_, R>,
    arith: Arith,
    opts: StepOptions,
    input: R,
    v: &mut R,
    r: &mut R,
    theta: &mut [R],
) -> bool {
    // 1. Refractory countdown; the neuron is free when r reaches 0.
    let r_dec = *r - p.dt;
    let r_new = if r_dec > R::ZERO { r_dec } else { R::ZERO };
    let free = r_new == R::ZERO;
    // 2. Integration, V* = ((((V − V_rest) − R·Ĩ)·e_m) + V_rest) + R·Ĩ.
    let i_eff = if free { input } else { R::ZERO };
    let a = *v - p.v_rest;
    let b = arith.fma(-p.resistance, i_eff, a);
    let c = arith.fma(b, p.decay_m, p.v_rest);
    let v_star = arith.fma(p.resistance, i_eff, c);
    let v_int = if opts.refrac_lock && !free {
        *v
    } else {
        v_star
    };
    // 3. Threshold from θ before this step's update.
    let mut thr = p.threshold;
    if p.adaptive {
        let mut sum = theta[0];
        for &t in &theta[1..] {
            sum = sum + t;
        }
        thr = sum + p.threshold;
    }
    // 4. Spike: free and V' ≥ Θ.
    let spike = free && v_int >= thr;
    // 5. Reset.
    if spike {
        *r = p.t_ref;
        *v = if p.glif2 {
            arith.fma(v_int - p.v_rest, p.m_v, p.v_rest) - p.b_v
        } else {
            p.v_reset
        };
    } else {
        *r = r_new;
        *v = v_int;
    }
    // 6. Adaptation: held while the lock is on and r > 0, else decayed; then + d_k·s.
    if p.adaptive && !opts.freeze_adaptation {
        let hold = opts.refrac_lock && *r > R::ZERO;
        let s = if spike { R::ONE } else { R::ZERO };
        for (k, th) in theta.iter_mut().enumerate() {
            let ds = p.increment_k[k] * s;
            *th = if hold {
                *th + ds
            } else {
                arith.fma(*th, p.decay_k[k], ds)
            };
        }
    }
    spike
}

/// The CPU simulator: N neurons × B independent trials in precision `R` (f32 or f64).
///
/// ```
/// use glifsim::{Arith, CpuSim, Model, Population, StepOptions};
/// let pop = Population::builder(Model::Lif, 64).build()?;
/// let mut sim = CpuSim::<f32>::new(&pop, 2, Arith::Separate)?;
/// let input = vec![30.0f32; 2 * 64];
/// let mut spikes = 0;
/// for _ in 0..200 {
///     spikes += sim.step(&input, StepOptions::default())?.count();
/// }
/// assert!(spikes > 0);
/// # Ok::<(), glifsim::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CpuSim<R: Real> {
    pop: Population,
    trials: usize,
    arith: Arith,
    params: Params<R>,
    v: Vec<R>,
    r: Vec<R>,
    theta: Vec<R>,
    steps: u64,
    drive: Drive,
    /// bias + noise mean, rounded once.
    offset: P<R>,
    /// noise gain, rounded once.
    gain: P<R>,
}

impl<R: Real> CpuSim<R> {
    /// A simulator at the initial state (V = V_rest, r = 0, θ = 0).
    pub fn new(pop: &Population, trials: usize, arith: Arith) -> Result<Self> {
        if trials == 0 {
            return Err(Error::Usage("trials must be ≥ 1".into()));
        }
        let params = Params::<R>::new(pop);
        let n = pop.n;
        let v = (0..trials * n).map(|i| params.v_rest.at(i % n)).collect();
        Ok(CpuSim {
            pop: pop.clone(),
            trials,
            arith,
            params,
            v,
            r: vec![R::ZERO; trials * n],
            theta: vec![R::ZERO; trials * n * pop.k()],
            steps: 0,
            drive: Drive::default(),
            offset: P::new(&0.0.into()),
            gain: P::new(&0.0.into()),
        })
    }

    /// Set the currents computed each step (bias, noise, schedule), added to any host input.
    pub fn set_drive(&mut self, drive: Drive) -> Result<()> {
        drive.validate(self.pop.n)?;
        self.offset = P::new(&drive.offset(self.pop.n));
        self.gain = P::new(&drive.gain());
        self.drive = drive;
        Ok(())
    }
    /// The drive.
    pub fn drive(&self) -> &Drive {
        &self.drive
    }

    /// Advance `steps` steps with the drive alone (no host input); returns the spikes.
    pub fn run_driven(&mut self, steps: usize, opts: StepOptions) -> Result<SpikeRecord> {
        let mut rec = SpikeRecord::new(self.trials, self.pop.n);
        self.run_inner(steps, None, opts, |_, w| {
            rec.extend_words(w);
            Ok(())
        })?;
        Ok(rec)
    }
    /// The population.
    pub fn population(&self) -> &Population {
        &self.pop
    }
    /// Number of trials B.
    pub fn trials(&self) -> usize {
        self.trials
    }
    /// The arithmetic mode.
    pub fn arith(&self) -> Arith {
        self.arith
    }
    /// Change the arithmetic mode (for example to the one a GPU adapter was calibrated to).
    pub fn set_arith(&mut self, arith: Arith) {
        self.arith = arith;
    }
    /// Steps taken so far.
    pub fn steps_done(&self) -> u64 {
        self.steps
    }
    /// A copy of the whole state.
    pub fn state(&self) -> State<R> {
        State {
            v: self.v.clone(),
            r: self.r.clone(),
            theta: self.theta.clone(),
        }
    }
    /// Borrow V, `[B][N]`.
    pub fn v(&self) -> &[R] {
        &self.v
    }
    /// Borrow r, `[B][N]`.
    pub fn r(&self) -> &[R] {
        &self.r
    }
    /// Borrow θ, `[B][N][K]`.
    pub fn theta(&self) -> &[R] {
        &self.theta
    }
    /// Replace the whole state (shapes and finiteness are checked first).
    pub fn set_state(&mut self, s: State<R>) -> Result<()> {
        s.check(self.trials, self.pop.n, self.pop.k())?;
        self.v = s.v;
        self.r = s.r;
        self.theta = s.theta;
        Ok(())
    }
    /// Set the step counter (used when restoring a saved run).
    pub fn set_steps_done(&mut self, steps: u64) {
        self.steps = steps;
    }

    /// Advance one step with `input` (B·N currents in nA, `[B][N]`); returns the spikes.
    /// On error (wrong length, non-finite input) nothing changes.
    pub fn step(&mut self, input: &[R], opts: StepOptions) -> Result<SpikeFrame> {
        let n = self.pop.n;
        check_input("input", input, self.trials * n, opts.check_input)?;
        let mut frame = SpikeFrame::new(self.trials, n);
        self.step_into(Some(input), opts, frame.words_mut());
        self.steps += 1;
        Ok(frame)
    }

    /// Advance `steps` steps with inputs `[T][B][N]`; returns the spikes `[T][B][W]`.
    /// Inputs are checked in full before the first step, so an error changes nothing.
    pub fn run(&mut self, steps: usize, inputs: &[R], opts: StepOptions) -> Result<SpikeRecord> {
        let mut rec = SpikeRecord::new(self.trials, self.pop.n);
        self.run_with(steps, inputs, opts, |_, w| {
            rec.extend_words(w);
            Ok(())
        })?;
        Ok(rec)
    }

    /// Run `steps` steps, handing the spike words of each chunk of up to 100 steps
    /// (`[t][B][W]`, starting at step `t0` of this run) to `sink`. Inputs are checked in full
    /// first, so a bad input changes nothing.
    pub fn run_with(
        &mut self,
        steps: usize,
        inputs: &[R],
        opts: StepOptions,
        sink: impl FnMut(usize, &[u32]) -> Result<()>,
    ) -> Result<()> {
        self.run_inner(steps, Some(inputs), opts, sink)
    }

    /// `run_with` where `inputs` may be absent (drive only).
    pub fn run_inner(
        &mut self,
        steps: usize,
        inputs: Option<&[R]>,
        opts: StepOptions,
        mut sink: impl FnMut(usize, &[u32]) -> Result<()>,
    ) -> Result<()> {
        let n = self.pop.n;
        let per = self.trials * n;
        if let Some(inputs) = inputs {
            check_input("inputs", inputs, steps * per, opts.check_input)?;
        }
        let fw = self.trials * words_per_trial(n);
        const CHUNK: usize = 100;
        let mut words = vec![0u32; CHUNK.min(steps) * fw];
        let mut t0 = 0;
        while t0 < steps {
            let tc = CHUNK.min(steps - t0);
            words[..tc * fw].fill(0);
            for t in 0..tc {
                let tt = t0 + t;
                self.step_into(
                    inputs.map(|x| &x[tt * per..(tt + 1) * per]),
                    opts,
                    &mut words[t * fw..(t + 1) * fw],
                );
                self.steps += 1;
            }
            sink(t0, &words[..tc * fw])?;
            t0 += tc;
        }
        Ok(())
    }

    /// The step itself, on checked input; `words` is this step's frame, zeroed.
    fn step_into(&mut self, input: Option<&[R]>, opts: StepOptions, words: &mut [u32]) {
        let n = self.pop.n;
        let step = self.steps;
        let sched = R::from_f64(self.drive.schedule_at(step));
        let noise = self.drive.noise.is_some();
        let seed = self.drive.seed();
        let (offset, gain) = (&self.offset, &self.gain);
        let k = self.pop.k();
        let w = words_per_trial(n);
        let params = &self.params;
        let arith = self.arith;
        // Work is cut into blocks of whole spike words inside one trial.
        let block = BLOCK.min(n.next_multiple_of(32));
        let run_block = |b: usize,
                         n0: usize,
                         v: &mut [R],
                         r: &mut [R],
                         th: &mut [R],
                         inp: Option<&[R]>,
                         wd: &mut [u32]| {
            let mut dk = vec![R::ZERO; k];
            let mut ik = vec![R::ZERO; k];
            for j in 0..v.len() {
                let nn = n0 + j;
                for kk in 0..k {
                    dk[kk] = params.decay_k[kk].at(nn);
                    ik[kk] = params.increment_k[kk].at(nn);
                }
                let p = NeuronParams {
                    dt: params.dt,
                    v_rest: params.v_rest.at(nn),
                    v_reset: params.v_reset.at(nn),
                    threshold: params.threshold.at(nn),
                    t_ref: params.t_ref.at(nn),
                    resistance: params.resistance.at(nn),
                    decay_m: params.decay_m.at(nn),
                    m_v: params.m_v.at(nn),
                    b_v: params.b_v.at(nn),
                    glif2: params.glif2,
                    adaptive: params.adaptive,
                    decay_k: &dk,
                    increment_k: &ik,
                };
                // The input current: (host + (bias + mean)) + schedule, plus noise.
                // WGSL twin: `input_current` in shaders/common.wgsl.
                let host = inp.map_or(R::ZERO, |x| x[j]);
                let mut current = (host + offset.at(nn)) + sched;
                if noise {
                    let draw = R::from_f64(noise_draw(seed, nn as u32, b as u32, step) as f64);
                    current = arith.fma(draw, gain.at(nn), current);
                }
                let s = update_neuron(
                    &p,
                    arith,
                    opts,
                    current,
                    &mut v[j],
                    &mut r[j],
                    &mut th[j * k..(j + 1) * k],
                );
                if s {
                    wd[j / 32] |= 1 << (j % 32);
                }
            }
        };
        let parallel = self.trials * n >= PARALLEL_MIN;
        for b in 0..self.trials {
            let v = &mut self.v[b * n..(b + 1) * n];
            let r = &mut self.r[b * n..(b + 1) * n];
            let th = &mut self.theta[b * n * k..(b + 1) * n * k];
            let inp = input.map(|x| &x[b * n..(b + 1) * n]);
            let wd = &mut words[b * w..(b + 1) * w];
            if parallel {
                // Blocks of `block` neurons; θ blocks are `block · K` long (empty when K = 0).
                let nblocks = n.div_ceil(block);
                let mut th_blocks: Vec<&mut [R]> = Vec::with_capacity(nblocks);
                let mut rest = th;
                for i in 0..nblocks {
                    let len = (block.min(n - i * block)) * k;
                    let (head, tail) = rest.split_at_mut(len);
                    th_blocks.push(head);
                    rest = tail;
                }
                v.par_chunks_mut(block)
                    .zip(r.par_chunks_mut(block))
                    .zip(th_blocks.into_par_iter())
                    .zip(wd.par_chunks_mut(block / 32))
                    .enumerate()
                    .for_each(|(i, (((v, r), th), wd))| {
                        let n0 = i * block;
                        let inp = inp.map(|x| &x[n0..n0 + v.len()]);
                        run_block(b, n0, v, r, th, inp, wd)
                    });
            } else {
                run_block(b, 0, v, r, th, inp, wd);
            }
        }
    }
}
