//! The CPU reference path: a literal implementation of `MODELS.md`, generic over f32 and f64.
//!
//! [`update_neuron`] is the CPU twin of the WGSL functions `update_neuron` in
//! `shaders/lif.wgsl` and `shaders/glif.wgsl` (and the steps they share in
//! `shaders/common.wgsl`): the same operations in
//! the same order, each product that feeds a sum written as one [`Arith::fma`] where the shader
//! writes `fma()`. The numbered comments are the steps of the spec and appear in both files.
//! `vector.rs` holds the same update written for the compiler's SIMD, used for every
//! population with at most one θ component and two after-spike currents (shared or
//! per-neuron parameters); it is bit-identical (tested).

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::frame::{words_per_trial, SpikeFrame, SpikeRecord};
use crate::input::{check_input, Drive};
use crate::model::{Param, Population};
use crate::noise::{noise_blocks, noise_table, noise_value_in, NoiseTable};
use crate::state::{State, StateArray, StepOptions};
use crate::{Arith, Real};

pub(crate) mod vector;
use vector::{Currents, Fill, Kernel};

/// Below this many neuron-trials per step the CPU path runs on one thread.
const PARALLEL_MIN: usize = 1 << 15;
/// Neurons per parallel block (a multiple of 32, so blocks own whole spike words).
const BLOCK: usize = 4096;

/// One block's V, r, θ and Philox blocks (empty without noise; four planes, see
/// `CpuSim::noise_cache`), as the iterators zip them.
type StateArrays<'a, R> = (((&'a mut [R], &'a mut [R]), &'a mut [R]), &'a mut [u32]);
/// One block's V, r, θ, Philox blocks and spike words.
type BlockArrays<'a, R> = (StateArrays<'a, R>, &'a mut [u32]);

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
    /// `xs[i] += p(n0 + i)`.
    #[inline(always)]
    fn add_to(&self, xs: &mut [R], n0: usize) {
        if self.per_neuron {
            for (x, &p) in xs.iter_mut().zip(&self.values[n0..]) {
                *x = *x + p;
            }
        } else {
            let p = self.values[0];
            for x in xs.iter_mut() {
                *x = *x + p;
            }
        }
    }
    /// `xs[i] = fma(draws[i], p(n0 + i), xs[i])` in mode `arith`.
    #[inline(always)]
    fn fma_to(&self, xs: &mut [R], draws: &[R], n0: usize, arith: Arith) {
        // One loop per mode, each with its mode a constant (functions, not closures, so
        // that they are inlined into the caller's AVX2 and AVX-512 copies).
        match arith {
            Arith::Separate => self.fma_to_in(xs, draws, n0, Arith::Separate),
            Arith::Fused => self.fma_to_in(xs, draws, n0, Arith::Fused),
        }
    }
    #[inline(always)]
    fn fma_to_in(&self, xs: &mut [R], draws: &[R], n0: usize, arith: Arith) {
        if self.per_neuron {
            for ((x, &d), &p) in xs.iter_mut().zip(draws).zip(&self.values[n0..]) {
                *x = arith.fma(d, p, *x);
            }
        } else {
            let p = self.values[0];
            for (x, &d) in xs.iter_mut().zip(draws) {
                *x = arith.fma(d, p, *x);
            }
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

/// The input currents of neurons `n0 + j0..` (at most 32 at a time): (host + (bias + mean)) +
/// schedule, plus noise, one pass per term so that each pass is a plain SIMD loop. Both
/// kernels use it; a struct rather than a closure so that it is inlined into the AVX2 and
/// AVX-512 copies of the vectorised kernel. WGSL twin: `input_current` in
/// shaders/common.wgsl.
struct BlockCurrents<'a, R> {
    /// This step's host input for the block.
    host: Option<&'a [R]>,
    offset: &'a P<R>,
    gain: &'a P<R>,
    sched: R,
    /// The block's first neuron.
    n0: usize,
    /// The block's Philox blocks (four planes), which word this step uses, and the table.
    noise: Option<(&'a [u32], usize, &'a NoiseTable)>,
    arith: Arith,
}

impl<R: Real> vector::Fill<R> for BlockCurrents<'_, R> {
    #[inline(always)]
    fn fill(&self, j0: usize, cur: &mut [R]) {
        let base = self.n0 + j0;
        match self.host {
            Some(x) => cur.copy_from_slice(&x[j0..j0 + cur.len()]),
            None => cur.fill(R::ZERO),
        }
        self.offset.add_to(cur, base);
        for c in cur.iter_mut() {
            *c = *c + self.sched;
        }
        if let Some((planes, word, table)) = self.noise {
            // This step's words (one plane of the blocks, contiguous); the draws; then
            // current = fma(draw, gain, current): each a plain loop with its arithmetic mode
            // and parameter layout decided outside it, so that it vectorises.
            let len = cur.len();
            let at = word * (planes.len() / 4) + j0;
            let words = &planes[at..at + len];
            let mut draws = [R::ZERO; 32];
            let draws = &mut draws[..len];
            match self.arith {
                Arith::Separate => noise_values(table, words, draws, Arith::Separate),
                Arith::Fused => noise_values(table, words, draws, Arith::Fused),
            }
            self.gain.fma_to(cur, draws, base, self.arith);
        }
    }
}

/// `draws[i] = noise_value(words[i])` in mode `arith` (a constant where it is inlined).
#[inline(always)]
fn noise_values<R: Real>(table: &NoiseTable, words: &[u32], draws: &mut [R], arith: Arith) {
    for (d, &w) in draws.iter_mut().zip(words) {
        *d = R::from_f64(noise_value_in(table, w, arith) as f64);
    }
}

/// All parameters of a population, in precision R.
#[derive(Debug, Clone)]
struct Params<R> {
    /// No parameter has one value per neuron.
    uniform: bool,
    glif2: bool,
    adaptive: bool,
    thv: bool,
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
    keep_k: Vec<P<R>>,
    asc_decay: Vec<P<R>>,
    asc_gain: Vec<P<R>>,
    asc_keep: Vec<P<R>>,
    asc_amp: Vec<P<R>>,
    thv_decay: P<R>,
    thv_u: P<R>,
    thv_w: P<R>,
    thv_asc: Vec<P<R>>,
}

impl<R: Real> Params<R> {
    fn new(pop: &Population) -> Self {
        Params {
            uniform: pop.per_neuron_params() == 0,
            glif2: pop.model.has_glif_reset(),
            adaptive: pop.model.is_adaptive(),
            thv: pop.model.has_theta_v(),
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
            keep_k: pop.keep_k.iter().map(P::new).collect(),
            asc_decay: pop.asc_decay.iter().map(P::new).collect(),
            asc_gain: pop.asc_gain.iter().map(P::new).collect(),
            asc_keep: pop.asc.iter().map(|a| P::new(&a.keep)).collect(),
            asc_amp: pop.asc.iter().map(|a| P::new(&a.amp)).collect(),
            thv_decay: P::new(&pop.thv_decay),
            thv_u: P::new(&pop.thv_u),
            thv_w: P::new(&pop.thv_w),
            thv_asc: pop.thv_asc.iter().map(P::new).collect(),
        }
    }
}

/// Per-neuron copies of the K- and J-indexed parameters, reused from neuron to neuron.
struct Gathered<R> {
    decay_k: Vec<R>,
    increment_k: Vec<R>,
    keep_k: Vec<R>,
    asc_decay: Vec<R>,
    asc_gain: Vec<R>,
    asc_keep: Vec<R>,
    asc_amp: Vec<R>,
    thv_asc: Vec<R>,
}

impl<R: Real> Gathered<R> {
    fn new(k: usize, j: usize) -> Self {
        Gathered {
            decay_k: Vec::with_capacity(k),
            increment_k: Vec::with_capacity(k),
            keep_k: Vec::with_capacity(k),
            asc_decay: Vec::with_capacity(j),
            asc_gain: Vec::with_capacity(j),
            asc_keep: Vec::with_capacity(j),
            asc_amp: Vec::with_capacity(j),
            thv_asc: Vec::with_capacity(j),
        }
    }
    /// The K- and J-indexed parameters of neuron `n`.
    fn filled(p: &Params<R>, n: usize) -> Self {
        let mut g = Gathered::new(p.decay_k.len(), p.asc_decay.len());
        g.fill(p, n);
        g
    }
    fn fill(&mut self, p: &Params<R>, n: usize) {
        for (out, list) in [
            (&mut self.decay_k, &p.decay_k),
            (&mut self.increment_k, &p.increment_k),
            (&mut self.keep_k, &p.keep_k),
            (&mut self.asc_decay, &p.asc_decay),
            (&mut self.asc_gain, &p.asc_gain),
            (&mut self.asc_keep, &p.asc_keep),
            (&mut self.asc_amp, &p.asc_amp),
            (&mut self.thv_asc, &p.thv_asc),
        ] {
            if !list.is_empty() {
                out.clear();
                out.extend(list.iter().map(|x| x.at(n)));
            }
        }
    }
}

impl<R: Real> Params<R> {
    /// The parameters of neuron `n` (K- and J-indexed ones from `g`).
    #[inline(always)]
    fn neuron<'a>(&self, n: usize, g: &'a Gathered<R>) -> NeuronParams<'a, R> {
        NeuronParams {
            dt: self.dt,
            v_rest: self.v_rest.at(n),
            v_reset: self.v_reset.at(n),
            threshold: self.threshold.at(n),
            t_ref: self.t_ref.at(n),
            resistance: self.resistance.at(n),
            decay_m: self.decay_m.at(n),
            m_v: self.m_v.at(n),
            b_v: self.b_v.at(n),
            glif2: self.glif2,
            adaptive: self.adaptive,
            decay_k: &g.decay_k,
            increment_k: &g.increment_k,
            keep_k: &g.keep_k,
            asc_decay: &g.asc_decay,
            asc_gain: &g.asc_gain,
            asc_keep: &g.asc_keep,
            asc_amp: &g.asc_amp,
            thv: self.thv.then(|| ThetaV {
                decay: self.thv_decay.at(n),
                u: self.thv_u.at(n),
                w: self.thv_w.at(n),
                asc: &g.thv_asc,
            }),
        }
    }
}

/// The parameters of one neuron, gathered for one update.
///
/// ```
/// use glifsim::cpu::NeuronParams;
/// // One LIF neuron: Δt = 0.1 ms, τ_m = 20 ms, R = 1 MΩ.
/// let p = NeuronParams::<f64> {
///     dt: 0.1, v_rest: -65.0, v_reset: -70.0, threshold: -50.0, t_ref: 2.0,
///     resistance: 1.0, decay_m: (-0.1f64 / 20.0).exp(), m_v: 0.0, b_v: 0.0,
///     glif2: false, adaptive: false,
///     decay_k: &[], increment_k: &[], keep_k: &[],
///     asc_decay: &[], asc_gain: &[], asc_keep: &[], asc_amp: &[],
///     thv: None,
/// };
/// assert_eq!(p.threshold - p.v_rest, 15.0);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NeuronParams<'a, R> {
    /// Δt.
    pub dt: R,
    /// V_rest.
    pub v_rest: R,
    /// V_reset (LIF, ALIF, GLIF3).
    pub v_reset: R,
    /// V_th or Θ_∞.
    pub threshold: R,
    /// t_ref.
    pub t_ref: R,
    /// R.
    pub resistance: R,
    /// e_m.
    pub decay_m: R,
    /// m_v (GLIF2, GLIF4, GLIF5).
    pub m_v: R,
    /// b_v (GLIF2, GLIF4, GLIF5).
    pub b_v: R,
    /// GLIF2 voltage reset instead of V_reset (GLIF2, GLIF4, GLIF5).
    pub glif2: bool,
    /// Whether the model has θ_k components.
    pub adaptive: bool,
    /// e_k of this neuron (K values).
    pub decay_k: &'a [R],
    /// d_k of this neuron (K values).
    pub increment_k: &'a [R],
    /// r_k of this neuron (K values): θ_k ← r_k·θ_k on a spike.
    pub keep_k: &'a [R],
    /// After-spike currents (J values each): decay g_j, voltage gain c_j, kept fraction f_j,
    /// amplitude δI_j.
    pub asc_decay: &'a [R],
    /// See `asc_decay`.
    pub asc_gain: &'a [R],
    /// See `asc_decay`.
    pub asc_keep: &'a [R],
    /// See `asc_decay`.
    pub asc_amp: &'a [R],
    /// GLIF5: θ_v's decay h and its couplings to u, w = R·Ĩ and each I_j (`None` otherwise).
    pub thv: Option<ThetaV<'a, R>>,
}

/// The θ_v coefficients of one neuron (GLIF5).
///
/// ```
/// use glifsim::cpu::ThetaV;
/// // θ_v's coefficients for b_v = 0.1/ms at Δt = 0.1 ms; the couplings come from the
/// // population's exact integration (`Population` computes them).
/// let tv = ThetaV::<f64> { decay: (-0.1f64 * 0.1).exp(), u: 4e-4, w: 0.0, asc: &[] };
/// assert!(tv.decay < 1.0);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ThetaV<'a, R> {
    /// h = exp(−b_v Δt).
    pub decay: R,
    /// ∂θ_v'/∂u.
    pub u: R,
    /// ∂θ_v'/∂w.
    pub w: R,
    /// ∂θ_v'/∂I_j.
    pub asc: &'a [R],
}

/// The compiled copy of the vectorised kernel that this processor runs: `"AVX-512"`,
/// `"AVX2 + FMA"` or `"baseline SIMD"` (SSE2 on x86-64, NEON on AArch64). All give the same
/// bits; `GLIFSIM_NO_AVX512=1` keeps the AVX-512 copy off.
///
/// ```
/// let copy = glifsim::cpu::vector_kernel_copy();
/// assert!(["AVX-512", "AVX2 + FMA", "baseline SIMD"].contains(&copy));
/// ```
pub fn vector_kernel_copy() -> &'static str {
    vector::simd().name()
}

/// One step of one neuron in one trial, exactly as `MODELS.md` orders it.
///
/// `comps` holds this neuron's extra state, updated in place: θ_1..θ_K, then the after-spike
/// currents I_1..I_J, then θ_v (GLIF5). Returns the spike bit. The WGSL twins are
/// `update_neuron` in `shaders/lif.wgsl` (LIF, GLIF1, ALIF, GLIF2) and `shaders/glif.wgsl`
/// (GLIF3–5), built from the steps in `shaders/common.wgsl` (`integrate`, `threshold_sum`,
/// `spike_and_reset`, `adapt_thresholds`).
///
/// ```
/// use glifsim::{cpu::{update_neuron, NeuronParams}, Arith, StepOptions};
/// let p = NeuronParams::<f64> {
///     dt: 0.1, v_rest: -65.0, v_reset: -70.0, threshold: -50.0, t_ref: 2.0,
///     resistance: 1.0, decay_m: (-0.1f64 / 20.0).exp(), m_v: 0.0, b_v: 0.0,
///     glif2: false, adaptive: false,
///     decay_k: &[], increment_k: &[], keep_k: &[],
///     asc_decay: &[], asc_gain: &[], asc_keep: &[], asc_amp: &[],
///     thv: None,
/// };
/// let (mut v, mut r) = (-65.0, 0.0);
/// let o = StepOptions::default();
/// // V relaxes toward V_rest + R·I = −35 mV and crosses −50 mV after ln 2 · τ_m ≈ 13.9 ms.
/// let first = (1..=1000)
///     .find(|_| update_neuron(&p, Arith::Separate, o, 30.0, &mut v, &mut r, &mut []))
///     .unwrap();
/// assert_eq!(first, 139);
/// assert_eq!((v, r), (-70.0, 2.0)); // reset, refractory for t_ref
/// ```
#[inline(always)]
pub fn update_neuron<R: Real>(
    p: &NeuronParams<'_, R>,
    arith: Arith,
    opts: StepOptions,
    input: R,
    v: &mut R,
    r: &mut R,
    comps: &mut [R],
) -> bool {
    let k = p.decay_k.len();
    let (theta, rest) = comps.split_at_mut(k);
    let (asc, thv) = rest.split_at_mut(p.asc_gain.len());
    // 1. Refractory countdown; the neuron is free when r reaches 0.
    let r_dec = *r - p.dt;
    let r_new = if r_dec > R::ZERO { r_dec } else { R::ZERO };
    let free = r_new == R::ZERO;
    // 2. Integration, V* = ((((V − V_rest) − R·Ĩ)·e_m) + V_rest) + R·Ĩ, then + c_j·I_j for each
    //    after-spike current (GLIF3–5, exact integration).
    let i_eff = if free { input } else { R::ZERO };
    let a = *v - p.v_rest;
    let b = arith.fma(-p.resistance, i_eff, a);
    let c = arith.fma(b, p.decay_m, p.v_rest);
    let mut v_star = arith.fma(p.resistance, i_eff, c);
    for (gain, &current) in p.asc_gain.iter().zip(asc.iter()) {
        v_star = arith.fma(*gain, current, v_star);
    }
    let v_int = if opts.refrac_lock && !free {
        *v
    } else {
        v_star
    };
    // 3. Threshold from the start of the step: ((θ_1 + … + θ_K) + Θ_∞) + θ_v.
    let mut thr = p.threshold;
    if p.adaptive {
        let mut sum = theta[0];
        for &t in &theta[1..] {
            sum = sum + t;
        }
        thr = sum + p.threshold;
    }
    if p.thv.is_some() {
        thr = thr + thv[0];
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
    let hold = opts.refrac_lock && *r > R::ZERO;
    let s = if spike { R::ONE } else { R::ZERO };
    if p.adaptive && !opts.freeze_adaptation {
        for (kk, th) in theta.iter_mut().enumerate() {
            let ds = p.increment_k[kk] * s;
            // A spike first scales the component by r_k (1 by default: no change).
            let th0 = if spike { *th * p.keep_k[kk] } else { *th };
            *th = if hold {
                th0 + ds
            } else {
                arith.fma(th0, p.decay_k[kk], ds)
            };
        }
    }
    // 7. θ_v (GLIF5), integrated exactly from the start-of-step u, w = R·Ĩ and I_j; held like θ.
    if let Some(q) = &p.thv {
        if !opts.freeze_adaptation && !hold {
            let w = p.resistance * i_eff;
            let mut acc = thv[0] * q.decay;
            acc = arith.fma(a, q.u, acc);
            acc = arith.fma(w, q.w, acc);
            for (coef, &current) in q.asc.iter().zip(asc.iter()) {
                acc = arith.fma(*coef, current, acc);
            }
            thv[0] = acc;
        }
    }
    // 8. After-spike currents: held while the lock is on and r > 0, else decayed; on a spike
    //    I_j ← f_j·I_j + δI_j.
    for (jj, current) in asc.iter_mut().enumerate() {
        let held = if hold {
            *current
        } else {
            *current * p.asc_decay[jj]
        };
        *current = if spike {
            arith.fma(p.asc_keep[jj], held, p.asc_amp[jj])
        } else {
            held
        };
    }
    spike
}

/// Bytes of one neuron's (and trial's) Philox block kept between calls: four u32 words.
const NOISE_BLOCK_BYTES: u64 = 4 * std::mem::size_of::<u32>() as u64;

/// Memory the host can still give (Linux `MemAvailable`), when known.
pub(crate) fn host_memory_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Refuse `needed` bytes of host memory for `what` (the error's words) where the host says it
/// has less (`MemAvailable`), before anything is allocated: Linux overcommits, so an
/// oversized allocation would end in an out-of-memory kill instead of an error.
pub(crate) fn check_host_memory(needed: u64, what: &str) -> Result<()> {
    match host_memory_available() {
        Some(avail) if needed > avail => Err(Error::TooLarge {
            needed,
            available: Some(avail),
            what: what.to_string(),
        }),
        _ => Ok(()),
    }
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
    /// The vectorised kernel, where the population's shape allows it.
    kernel: Option<Kernel<R>>,
    /// Use the vectorised kernel where possible (default on).
    vectorised: bool,
    v: Vec<R>,
    r: Vec<R>,
    theta: Vec<R>,
    steps: u64,
    drive: Drive,
    /// bias + noise mean, rounded once.
    offset: P<R>,
    /// noise gain, rounded once.
    gain: P<R>,
    /// With a noise drive, each neuron's Philox block of the current quad of steps (GPU twin:
    /// `noise_cache`, which keeps words 1–3): four words per neuron and trial, laid out per
    /// parallel block of `len` neurons as four planes, word k of the block's neuron j at
    /// `k·len + j` (`noise::noise_blocks`), so that a step's words are one contiguous run.
    noise_cache: Vec<u32>,
    /// The step at which `noise_cache` holds the blocks of the quad it falls in (the end of
    /// the last advance, inside a quad); `None`: draw them again.
    noise_cached_at: Option<u64>,
}

impl<R: Real> CpuSim<R> {
    /// Bytes of host memory a simulator of `pop` × `trials` holds: V, r and the state
    /// components in precision `R`, and with a noise drive (`noise`) each neuron's Philox
    /// block (16 bytes per neuron and trial).
    ///
    /// ```
    /// use glifsim::{CpuSim, Model, Population};
    /// let pop = Population::builder(Model::Lif, 1_000).build()?;
    /// assert_eq!(CpuSim::<f32>::memory_needed(&pop, 2, false), 2 * 1_000 * 2 * 4);
    /// assert_eq!(CpuSim::<f32>::memory_needed(&pop, 2, true), 2 * 1_000 * (8 + 16));
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn memory_needed(pop: &Population, trials: usize, noise: bool) -> u64 {
        let pairs = (trials as u64).saturating_mul(pop.n as u64);
        let state = pairs
            .saturating_mul(2 + pop.components() as u64)
            .saturating_mul(std::mem::size_of::<R>() as u64);
        state.saturating_add(if noise {
            pairs.saturating_mul(NOISE_BLOCK_BYTES)
        } else {
            0
        })
    }

    /// A simulator at the initial state (V = V_rest, r = 0, θ = 0).
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population};
    /// let pop = Population::builder(Model::Lif, 1000).v_rest(-60.0).build()?;
    /// let sim = CpuSim::<f64>::new(&pop, 4, Arith::Separate)?;
    /// assert_eq!(sim.v(), &vec![-60.0; 4000][..]);
    /// assert!(sim.r().iter().all(|&r| r == 0.0));
    /// assert!(CpuSim::<f64>::new(&pop, 0, Arith::Separate).is_err());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn new(pop: &Population, trials: usize, arith: Arith) -> Result<Self> {
        if trials == 0 {
            return Err(Error::Usage("trials must be ≥ 1".into()));
        }
        let n = pop.n;
        // Refuse what the host cannot hold before allocating it (overcommit would turn an
        // oversized population into an out-of-memory kill later).
        let needed = Self::memory_needed(pop, trials, false);
        check_host_memory(
            needed,
            "bytes of host memory for the CPU path (MemAvailable)",
        )?;
        let params = Params::<R>::new(pop);
        let kernel = Kernel::new(&params);
        let v = (0..trials * n).map(|i| params.v_rest.at(i % n)).collect();
        Ok(CpuSim {
            pop: pop.clone(),
            trials,
            arith,
            params,
            kernel,
            vectorised: true,
            v,
            r: vec![R::ZERO; trials * n],
            theta: vec![R::ZERO; trials * n * pop.components()],
            steps: 0,
            drive: Drive::default(),
            offset: P::new(&0.0.into()),
            gain: P::new(&0.0.into()),
            noise_cache: Vec::new(),
            noise_cached_at: None,
        })
    }

    /// Set the currents computed each step (bias, noise, schedule), added to any host input.
    ///
    /// A noise drive also gets the Philox blocks kept between calls (16 bytes per neuron and
    /// trial); when the host cannot hold them this is an error and nothing changes.
    ///
    /// ```
    /// use glifsim::{input::Drive, Arith, CpuSim, Model, Population, StepOptions};
    /// let pop = Population::builder(Model::Lif, 2).build()?;
    /// let mut sim = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// // Per-neuron bias: only neuron 1 is driven past threshold.
    /// sim.set_drive(Drive { bias: vec![5.0, 40.0].into(), ..Default::default() })?;
    /// let rec = sim.run_driven(500, StepOptions::default())?;
    /// assert_eq!(rec.count_per_neuron()[0], 0);
    /// assert!(rec.count_per_neuron()[1] > 0);
    /// // A bias of the wrong length is refused.
    /// assert!(sim.set_drive(Drive { bias: vec![1.0].into(), ..Default::default() }).is_err());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn set_drive(&mut self, drive: Drive) -> Result<()> {
        drive.validate(self.pop.n)?;
        let blocks = if drive.noise.is_some() {
            self.trials * self.pop.n
        } else {
            0
        };
        if 4 * blocks != self.noise_cache.len() {
            let needed = blocks as u64 * NOISE_BLOCK_BYTES;
            check_host_memory(
                needed,
                "bytes of host memory for the CPU path's noise blocks (MemAvailable)",
            )?;
            self.noise_cache = vec![0; 4 * blocks];
        }
        self.offset = P::new(&drive.offset(self.pop.n));
        self.gain = P::new(&drive.gain());
        self.drive = drive;
        self.noise_cached_at = None;
        Ok(())
    }
    /// The drive.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population};
    /// let pop = Population::builder(Model::Lif, 2).build()?;
    /// let sim = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// assert!(sim.drive().is_zero());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn drive(&self) -> &Drive {
        &self.drive
    }

    /// Advance `steps` steps with the drive alone (no host input); returns the spikes.
    ///
    /// ```
    /// use glifsim::{input::Drive, Arith, CpuSim, Model, Population, StepOptions};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let mut sim = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// sim.set_drive(Drive { schedule: vec![(0, 0.0), (100, 50.0)], ..Default::default() })?;
    /// let rec = sim.run_driven(300, StepOptions::default())?;
    /// // Nothing before the schedule's current starts at step 100.
    /// assert!(rec.events().iter().all(|&(t, _, _)| t >= 100));
    /// assert!(rec.count() > 0);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn run_driven(&mut self, steps: usize, opts: StepOptions) -> Result<SpikeRecord> {
        SpikeRecord::collect(self.trials, self.pop.n, |sink| {
            self.run_inner(steps, None, opts, sink)
        })
    }
    /// The population.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population};
    /// let pop = Population::builder(Model::Lif, 5).build()?;
    /// assert_eq!(CpuSim::<f32>::new(&pop, 1, Arith::Separate)?.population().len(), 5);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn population(&self) -> &Population {
        &self.pop
    }
    /// Number of trials B.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population};
    /// let pop = Population::builder(Model::Lif, 5).build()?;
    /// assert_eq!(CpuSim::<f32>::new(&pop, 3, Arith::Separate)?.trials(), 3);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn trials(&self) -> usize {
        self.trials
    }
    /// The arithmetic mode.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population};
    /// let pop = Population::builder(Model::Lif, 5).build()?;
    /// assert_eq!(CpuSim::<f32>::new(&pop, 1, Arith::Fused)?.arith(), Arith::Fused);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn arith(&self) -> Arith {
        self.arith
    }
    /// Change the arithmetic mode (for example to the one a GPU adapter was calibrated to).
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population};
    /// let pop = Population::builder(Model::Lif, 5).build()?;
    /// let mut sim = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// sim.set_arith(Arith::Fused); // as an NVIDIA GPU computes
    /// assert_eq!(sim.arith(), Arith::Fused);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn set_arith(&mut self, arith: Arith) {
        self.arith = arith;
    }
    /// Whether steps use the vectorised kernel (default: wherever the population allows it:
    /// at most one θ component and at most two after-spike currents). It is
    /// bit-identical to the literal per-neuron [`update_neuron`]; turning it off is for
    /// checking that.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population};
    /// let pop = Population::builder(Model::Lif, 64).build()?;
    /// let mut sim = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// assert!(sim.vectorised());
    /// sim.set_vectorised(false);
    /// assert!(!sim.vectorised());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn vectorised(&self) -> bool {
        self.vectorised && self.kernel.is_some()
    }
    /// Choose the vectorised kernel (where the population allows it) or the literal one.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population, StepOptions};
    /// let pop = Population::builder(Model::Lif, 100).build()?;
    /// let x: Vec<f32> = (0..50 * 100).map(|i| (i % 97) as f32).collect();
    /// let mut fast = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// let mut literal = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// literal.set_vectorised(false);
    /// let o = StepOptions::default();
    /// assert_eq!(fast.run(50, &x, o)?, literal.run(50, &x, o)?);
    /// assert_eq!(fast.state(), literal.state());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn set_vectorised(&mut self, on: bool) {
        self.vectorised = on;
    }
    /// Steps taken so far.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population, StepOptions};
    /// let pop = Population::builder(Model::Lif, 5).build()?;
    /// let mut sim = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// sim.step(&[0.0; 5], StepOptions::default())?;
    /// assert_eq!(sim.steps_done(), 1);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn steps_done(&self) -> u64 {
        self.steps
    }
    /// A copy of the whole state.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population};
    /// let pop = Population::builder(Model::Alif, 3)
    ///     .adapt_time_constants(vec![20.0.into()])
    ///     .adapt_increments(vec![1.0.into()])
    ///     .build()?;
    /// let st = CpuSim::<f64>::new(&pop, 2, Arith::Separate)?.state();
    /// assert_eq!((st.v.len(), st.theta.len()), (6, 6)); // [B][N], [B][N][K]
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn state(&self) -> State<R> {
        State::from_components(self.v.clone(), self.r.clone(), &self.theta, &self.pop)
    }
    /// The state of the listed neurons only: a [`State`] of B trials × `neurons.len()`
    /// neurons, in the order given (repeats allowed); the CPU twin of
    /// [`GpuSim::state_of`](crate::gpu::GpuSim::state_of). An index past the population is
    /// an error.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population};
    /// let pop = Population::builder(Model::Lif, 100).v_rest(-65.0).build()?;
    /// let sim = CpuSim::<f64>::new(&pop, 2, Arith::Separate)?;
    /// let some = sim.state_of(&[3, 99])?;
    /// assert_eq!(some.v, vec![-65.0; 4]); // [B][2]
    /// assert!(sim.state_of(&[100]).is_err());
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn state_of(&self, neurons: &[usize]) -> Result<State<R>> {
        let (n, b, p) = (self.pop.len(), self.trials, &self.pop);
        crate::state::check_neurons(neurons, n)?;
        let c = p.components();
        let rows = || (0..b).flat_map(|t| neurons.iter().map(move |&i| t * n + i));
        let comps: Vec<R> = rows()
            .flat_map(|row| self.theta[row * c..(row + 1) * c].iter().copied())
            .collect();
        Ok(State::from_components(
            rows().map(|row| self.v[row]).collect(),
            rows().map(|row| self.r[row]).collect(),
            &comps,
            p,
        ))
    }
    /// One array of the state, in pieces of at most `max_values` values (or one neuron's, if
    /// more) that concatenate to [`CpuSim::state`]'s array `which`, handed to `f` in order
    /// without a copy of the whole state (what a checkpoint of a large population writes from). An error from `f` stops
    /// the walk and is returned.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population, StateArray};
    /// let pop = Population::builder(Model::Lif, 100).v_rest(-65.0).build()?;
    /// let sim = CpuSim::<f32>::new(&pop, 2, Arith::Separate)?;
    /// let mut v = Vec::new();
    /// sim.state_blocks(StateArray::V, 64, &mut |piece| {
    ///     assert!(piece.len() <= 64);
    ///     v.extend_from_slice(piece);
    ///     Ok(())
    /// })?;
    /// assert_eq!(v, sim.state().v);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn state_blocks(
        &self,
        which: StateArray,
        max_values: usize,
        f: &mut dyn FnMut(&[R]) -> Result<()>,
    ) -> Result<()> {
        let max_values = max_values.max(1);
        let Some(idx) = which.components(&self.pop) else {
            let arr = if which == StateArray::V {
                &self.v
            } else {
                &self.r
            };
            return arr.chunks(max_values).try_for_each(f);
        };
        if idx.is_empty() {
            return Ok(());
        }
        // Whole neurons per piece, gathered from the [B·N][C] components.
        let c = self.pop.components();
        let rows = (max_values / idx.len()).max(1);
        let mut buf = Vec::with_capacity(rows * idx.len());
        for block in self.theta.chunks(rows * c) {
            buf.clear();
            for x in block.chunks_exact(c) {
                buf.extend(idx.iter().map(|&i| x[i]));
            }
            f(&buf)?;
        }
        Ok(())
    }
    /// Fill array `which` of the state from `fill`, whole neurons of at most `max_values`
    /// values at a time, in the order of [`CpuSim::state_blocks`] (straight into the
    /// simulator's own arrays: no second copy of the state, which a restore of a large
    /// population would otherwise hold). Each block is checked as [`CpuSim::set_state`]
    /// checks the state; on an error the array is partly replaced, so this serves a
    /// simulator built to be restored (`glifsim resume`), which an error discards.
    pub(crate) fn set_state_blocks(
        &mut self,
        which: StateArray,
        max_values: usize,
        fill: &mut dyn FnMut(&mut [R]) -> Result<()>,
    ) -> Result<()> {
        let max_values = max_values.max(1);
        let Some(idx) = which.components(&self.pop) else {
            let arr = if which == StateArray::V {
                &mut self.v
            } else {
                &mut self.r
            };
            for (k, block) in arr.chunks_mut(max_values).enumerate() {
                fill(block)?;
                crate::state::check_block(which, k * max_values, block)?;
            }
            return Ok(());
        };
        if idx.is_empty() {
            return Ok(());
        }
        // Whole neurons per block, scattered into the [B·N][C] components.
        let (c, per) = (self.pop.components(), idx.len());
        let rows = (max_values / per).max(1);
        let mut buf = vec![R::ZERO; rows * per];
        for (k, block) in self.theta.chunks_mut(rows * c).enumerate() {
            let got = &mut buf[..block.len() / c * per];
            fill(got)?;
            crate::state::check_block(which, k * rows * per, got)?;
            for (x, v) in block.chunks_exact_mut(c).zip(got.chunks_exact(per)) {
                for (&i, &value) in idx.iter().zip(v) {
                    x[i] = value;
                }
            }
        }
        Ok(())
    }
    /// Borrow V, `[B][N]`.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population};
    /// let pop = Population::builder(Model::Lif, 3).v_rest(-68.0).build()?;
    /// assert_eq!(CpuSim::<f32>::new(&pop, 1, Arith::Separate)?.v(), &[-68.0; 3]);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn v(&self) -> &[R] {
        &self.v
    }
    /// Borrow r, `[B][N]`.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population, StepOptions};
    /// let pop = Population::builder(Model::Lif, 1).t_ref(2.0).build()?;
    /// let mut sim = CpuSim::<f64>::new(&pop, 1, Arith::Separate)?;
    /// while !sim.step(&[1000.0], StepOptions::default())?.get(0, 0) {}
    /// assert_eq!(sim.r(), &[2.0]); // t_ref left after the spike
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn r(&self) -> &[R] {
        &self.r
    }
    /// Borrow the extra state components, `[B][N][C]`: θ_1..θ_K, I_1..I_J, θ_v. For LIF,
    /// ALIF and GLIF2 this is θ, `[B][N][K]` (empty for LIF).
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population, StepOptions};
    /// let pop = Population::builder(Model::Alif, 1)
    ///     .adapt_time_constants(vec![20.0.into()])
    ///     .adapt_increments(vec![1.5.into()])
    ///     .build()?;
    /// let mut sim = CpuSim::<f64>::new(&pop, 1, Arith::Separate)?;
    /// assert_eq!(sim.theta(), &[0.0]);
    /// while !sim.step(&[1000.0], StepOptions::default())?.get(0, 0) {}
    /// assert!(sim.theta()[0] > 0.0); // raised by d_1 on the spike
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn theta(&self) -> &[R] {
        &self.theta
    }
    /// Replace the whole state (shapes and finiteness are checked first).
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population};
    /// let pop = Population::builder(Model::Lif, 2).build()?;
    /// let mut sim = CpuSim::<f64>::new(&pop, 1, Arith::Separate)?;
    /// let mut st = sim.state();
    /// st.r[1] = 1.0; // neuron 1 refractory for 1 ms
    /// sim.set_state(st.clone())?;
    /// assert_eq!(sim.r(), &[0.0, 1.0]);
    /// st.v[0] = f64::NAN;
    /// assert!(sim.set_state(st).is_err());
    /// assert_eq!(sim.v(), &[-65.0, -65.0]); // unchanged
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn set_state(&mut self, s: State<R>) -> Result<()> {
        let p = &self.pop;
        s.check(self.trials, p)?;
        self.theta = s.to_components(p);
        self.v = s.v;
        self.r = s.r;
        Ok(())
    }
    /// Set the step counter (used when restoring a saved run).
    ///
    /// ```
    /// use glifsim::{input::{Drive, Noise}, Arith, CpuSim, Model, Population, StepOptions};
    /// let pop = Population::builder(Model::Lif, 50).build()?;
    /// let drive = Drive {
    ///     bias: 14.0.into(),
    ///     noise: Some(Noise { mean: 0.0.into(), std: 30.0.into(), seed: 3 }),
    ///     ..Default::default()
    /// };
    /// // 200 steps in one go equal 100 steps, then a fresh simulator set to that state and step.
    /// let o = StepOptions::default();
    /// let mut one = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// one.set_drive(drive.clone())?;
    /// let whole = one.run_driven(200, o)?;
    /// let mut a = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// a.set_drive(drive.clone())?;
    /// a.run_driven(100, o)?;
    /// let mut b = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// b.set_drive(drive)?;
    /// b.set_state(a.state())?;
    /// b.set_steps_done(100); // the noise continues from step 100
    /// assert_eq!(b.run_driven(100, o)?.words(), &whole.words()[100 * 2..]);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn set_steps_done(&mut self, steps: u64) {
        self.steps = steps;
        // The cached noise belongs to the old step count.
        self.noise_cached_at = None;
    }

    /// Advance one step with `input` (B·N currents in nA, `[B][N]`); returns the spikes.
    /// On error (wrong length, non-finite input) nothing changes.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population, StepOptions};
    /// let pop = Population::builder(Model::Lif, 3).build()?;
    /// let mut sim = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// let f = sim.step(&[0.0, 5.0, 0.0], StepOptions::default())?;
    /// assert_eq!(f.count(), 0);
    /// assert!(sim.v()[1] > -65.0);
    /// assert!(sim.step(&[0.0, f32::NAN, 0.0], StepOptions::default()).is_err());
    /// assert_eq!(sim.steps_done(), 1);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn step(&mut self, input: &[R], opts: StepOptions) -> Result<SpikeFrame> {
        let n = self.pop.n;
        check_input("input", input, self.trials * n, opts.check_input)?;
        let mut frame = SpikeFrame::new(self.trials, n);
        self.advance(1, Some(input), opts, frame.words_mut());
        Ok(frame)
    }

    /// Advance `steps` steps with inputs `[T][B][N]`; returns the spikes `[T][B][W]`.
    /// Inputs are checked in full before the first step, so an error changes nothing.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population, StepOptions};
    /// let pop = Population::builder(Model::Lif, 10).build()?;
    /// let mut sim = CpuSim::<f64>::new(&pop, 2, Arith::Separate)?;
    /// let rec = sim.run(300, &vec![40.0; 300 * 2 * 10], StepOptions::default())?;
    /// // Identical neurons with identical input spike together in both trials.
    /// let counts = rec.count_per_neuron();
    /// assert!(counts.iter().all(|&c| c == counts[0] && c > 0));
    /// # Ok::<(), glifsim::Error>(())
    /// ```
    pub fn run(&mut self, steps: usize, inputs: &[R], opts: StepOptions) -> Result<SpikeRecord> {
        SpikeRecord::collect(self.trials, self.pop.n, |sink| {
            self.run_with(steps, inputs, opts, sink)
        })
    }

    /// Run `steps` steps, handing the spike words of each chunk of up to 100 steps
    /// (`[t][B][W]`, starting at step `t0` of this run) to `sink`. Inputs are checked in full
    /// first, so a bad input changes nothing.
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population, StepOptions};
    /// let pop = Population::builder(Model::Lif, 64).build()?;
    /// let mut sim = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// let mut chunks = Vec::new();
    /// sim.run_with(250, &vec![0.0; 250 * 64], StepOptions::default(), |t0, words| {
    ///     chunks.push((t0, words.len() / 2)); // two words per step
    ///     Ok(())
    /// })?;
    /// assert_eq!(chunks, vec![(0, 100), (100, 100), (200, 50)]);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
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
    ///
    /// ```
    /// use glifsim::{Arith, CpuSim, Model, Population, StepOptions};
    /// let pop = Population::builder(Model::Lif, 32).build()?;
    /// let mut sim = CpuSim::<f32>::new(&pop, 1, Arith::Separate)?;
    /// let mut steps = 0;
    /// sim.run_inner(20, None, StepOptions::default(), |_, w| {
    ///     steps += w.len();
    ///     Ok(())
    /// })?;
    /// assert_eq!(steps, 20);
    /// # Ok::<(), glifsim::Error>(())
    /// ```
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
            self.advance(
                tc,
                inputs.map(|x| &x[t0 * per..(t0 + tc) * per]),
                opts,
                &mut words[..tc * fw],
            );
            sink(t0, &words[..tc * fw])?;
            t0 += tc;
        }
        Ok(())
    }

    /// Advance `tc` steps on checked input (`[tc][B][N]`, or none), writing the spikes into
    /// `words` (`[tc][B][W]`, zeroed). The neurons of each trial are cut into blocks of whole
    /// spike words, run in parallel; a block takes all `tc` steps before it is left, so its
    /// state stays in cache (the CPU's fused kernel). Each neuron still takes its steps one
    /// after another with exactly the arithmetic of `update_neuron`.
    fn advance(&mut self, tc: usize, inputs: Option<&[R]>, opts: StepOptions, words: &mut [u32]) {
        let n = self.pop.n;
        let per = self.trials * n;
        let first = self.steps;
        let scheds: Vec<R> = (0..tc as u64)
            .map(|t| R::from_f64(self.drive.schedule_at(first + t)))
            .collect();
        let noise = self.drive.noise.is_some();
        let seed = self.drive.seed();
        let table = noise_table();
        let (offset, gain) = (&self.offset, &self.gain);
        let (k, jn) = (self.pop.k(), self.pop.j());
        let comps = self.pop.components();
        let w = words_per_trial(n);
        let fw = self.trials * w;
        let params = &self.params;
        let arith = self.arith;
        let kernel = self.kernel.as_ref().filter(|_| self.vectorised);
        let block = BLOCK.min(n.next_multiple_of(32));
        // The Philox blocks of the quad of steps `first` falls in, when the last advance ended
        // there (GPU twin: FLAG_NOISE_CACHED).
        debug_assert_eq!(
            self.noise_cache.len(),
            if noise { 4 * self.trials * n } else { 0 }
        );
        let cached = self.noise_cached_at.take() == Some(first);
        // All tc steps of the neurons n0.. of trial b, their spike words into `local`,
        // [tc][wb] (zeroed).
        let run_block = |b: usize, n0: usize, st: StateArrays<'_, R>, local: &mut [u32]| {
            let (((v, r), th), blocks) = st;
            let len = v.len();
            let wb = len.div_ceil(32);
            let mut g = Gathered::new(k, jn);
            // The literal kernel: parameters shared by every neuron, built once; the
            // block's currents of a step.
            let shared = params.uniform.then(|| Gathered::filled(params, 0));
            let mut currents = vec![R::ZERO; if kernel.is_some() { 0 } else { len }];
            // The vectorised kernel, with the block's per-neuron parameters.
            let vector = kernel.map(|k| (k, k.columns(params, n0, len)));
            // Each neuron's Philox block serves four steps (WGSL twin: `Carry::noise`): drawn
            // when a quad begins, or at the first step if the cache does not hold it.
            for (t, wd) in local.chunks_mut(wb).enumerate() {
                let step = first + t as u64;
                let sched = scheds[t];
                if noise && (step.is_multiple_of(4) || (t == 0 && !cached)) {
                    noise_blocks(seed, n0 as u32, b as u32, step, blocks);
                }
                let word = (step % 4) as usize;
                let blocks = &*blocks;
                let inp = inputs.map(|x| &x[t * per + b * n + n0..t * per + b * n + n0 + len]);
                // The input currents: (host + (bias + mean)) + schedule, plus noise. WGSL
                // twin: `input_current` in shaders/common.wgsl.
                let fill = BlockCurrents {
                    host: inp,
                    offset,
                    gain,
                    sched,
                    n0,
                    noise: noise.then_some((blocks, word, table)),
                    arith,
                };
                if let Some((k, cols)) = &vector {
                    let cur = if noise || offset.per_neuron {
                        Currents::Fill(&fill)
                    } else {
                        Currents::Host {
                            host: inp,
                            offset: offset.values[0],
                            sched,
                        }
                    };
                    vector::run_block(k, cols, arith, opts, &cur, v, r, th, wd);
                    continue;
                }
                for (i, c) in currents.chunks_mut(32).enumerate() {
                    fill.fill(32 * i, c);
                }
                // One neuron's step: `update_neuron` with its current.
                let mut one = |j: usize, p: &NeuronParams<'_, R>| {
                    let s = update_neuron(
                        p,
                        arith,
                        opts,
                        currents[j],
                        &mut v[j],
                        &mut r[j],
                        &mut th[j * comps..(j + 1) * comps],
                    );
                    if s {
                        wd[j / 32] |= 1 << (j % 32);
                    }
                };
                if let Some(g0) = &shared {
                    let p = params.neuron(0, g0);
                    for j in 0..len {
                        one(j, &p);
                    }
                } else {
                    for j in 0..len {
                        g.fill(params, n0 + j);
                        let p = params.neuron(n0 + j, &g);
                        one(j, &p);
                    }
                }
            }
        };
        let parallel = self.trials * n >= PARALLEL_MIN;
        for b in 0..self.trials {
            let v = &mut self.v[b * n..(b + 1) * n];
            let r = &mut self.r[b * n..(b + 1) * n];
            // θ blocks are `block · C` long, the Philox blocks `block` (empty without them).
            let nb = n.div_ceil(block);
            let th = &mut self.theta[b * n * comps..(b + 1) * n * comps];
            let th_blocks = chunks_or_empty(th, block * comps, nb);
            let nc = if noise {
                &mut self.noise_cache[4 * b * n..4 * (b + 1) * n]
            } else {
                &mut []
            };
            let nc_blocks = chunks_or_empty(nc, 4 * block, nb);
            if tc == 1 {
                // One step: each block writes its words straight into the frame.
                let wd = &mut words[b * w..(b + 1) * w];
                let job =
                    |(i, (st, wd)): (usize, BlockArrays<'_, R>)| run_block(b, i * block, st, wd);
                if parallel {
                    v.par_chunks_mut(block)
                        .zip(r.par_chunks_mut(block))
                        .zip(th_blocks.into_par_iter())
                        .zip(nc_blocks.into_par_iter())
                        .zip(wd.par_chunks_mut(block / 32))
                        .enumerate()
                        .for_each(job);
                } else {
                    v.chunks_mut(block)
                        .zip(r.chunks_mut(block))
                        .zip(th_blocks)
                        .zip(nc_blocks)
                        .zip(wd.chunks_mut(block / 32))
                        .enumerate()
                        .for_each(job);
                }
                continue;
            }
            // Several steps: each block fills its own [tc][wb] words, placed in every step's
            // frame afterwards.
            let job = |(i, st): (usize, StateArrays<'_, R>)| {
                let (((v, r), th), nc) = st;
                let mut local = vec![0u32; tc * v.len().div_ceil(32)];
                run_block(b, i * block, (((v, r), th), nc), &mut local);
                local
            };
            let locals: Vec<Vec<u32>> = if parallel {
                v.par_chunks_mut(block)
                    .zip(r.par_chunks_mut(block))
                    .zip(th_blocks.into_par_iter())
                    .zip(nc_blocks.into_par_iter())
                    .enumerate()
                    .map(job)
                    .collect()
            } else {
                v.chunks_mut(block)
                    .zip(r.chunks_mut(block))
                    .zip(th_blocks)
                    .zip(nc_blocks)
                    .enumerate()
                    .map(job)
                    .collect()
            };
            for (i, local) in locals.iter().enumerate() {
                let wb = local.len() / tc;
                let w0 = b * w + i * block / 32;
                for (t, row) in local.chunks(wb).enumerate() {
                    words[t * fw + w0..t * fw + w0 + wb].copy_from_slice(row);
                }
            }
        }
        self.steps += tc as u64;
        // An advance that ends inside a quad leaves its blocks for the next (GPU twin:
        // `end_lane`).
        if noise && !self.steps.is_multiple_of(4) {
            self.noise_cached_at = Some(self.steps);
        }
    }
}

/// `s` in pieces of `len` elements, or `count` empty pieces when `s` is empty (a block's θ
/// without components, its Philox blocks without noise), so that they zip with V's blocks.
fn chunks_or_empty<T>(s: &mut [T], len: usize, count: usize) -> Vec<&mut [T]> {
    if s.is_empty() {
        (0..count).map(|_| <&mut [T]>::default()).collect()
    } else {
        s.chunks_mut(len).collect()
    }
}
