//! The vectorised CPU kernel: [`update_neuron`](super::update_neuron) rewritten as
//! straight-line lane loops over one spike word (32 neurons) at a time, for the populations
//! where that is possible without gathers: every parameter uniform, no after-spike currents,
//! no θ_v, and at most one θ component (LIF, GLIF1, and ALIF or GLIF2 with K = 1).
//!
//! Every line computes the same IEEE operation as its twin in `update_neuron`, in the same
//! order, with branches turned into selects, so the results are bit-identical (the tests in
//! `tests/cpu.rs` hold the two against each other in both arithmetic modes, with the lock on
//! and off and with adaptation frozen). On x86-64 the loops are compiled a second time for
//! AVX2 + FMA and that copy is chosen at run time when the processor has them; elsewhere the
//! compiler's baseline SIMD (SSE2, NEON) is used.

use crate::model::Population;
use crate::state::StepOptions;
use crate::{Arith, Real};

/// Neurons per lane loop: one spike word.
const LANES: usize = 32;

/// The parameters of a population whose parameters are all uniform, in precision R.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Uniform<R> {
    dt: R,
    v_rest: R,
    v_reset: R,
    threshold: R,
    t_ref: R,
    resistance: R,
    decay_m: R,
    m_v: R,
    b_v: R,
    glif2: bool,
    adaptive: bool,
    decay_k: R,
    increment_k: R,
    keep_k: R,
}

impl<R: Real> Uniform<R> {
    /// The kernel's parameters, or `None` where the population needs the general kernel.
    pub(crate) fn new(pop: &Population) -> Option<Self> {
        let uniform = pop.param_list().iter().all(|(_, p)| !p.is_per_neuron());
        let m = pop.model;
        if !uniform || pop.k() > 1 || pop.j() > 0 || m.has_theta_v() {
            return None;
        }
        let one = |p: &crate::model::Param| R::from_f64(p.values()[0]);
        let first = |ps: &[crate::model::Param]| ps.first().map_or(R::ZERO, one);
        Some(Uniform {
            dt: R::from_f64(pop.dt),
            v_rest: one(&pop.v_rest),
            v_reset: one(&pop.v_reset),
            threshold: one(&pop.threshold),
            t_ref: one(&pop.t_ref),
            resistance: one(&pop.resistance),
            decay_m: one(&pop.decay_m),
            m_v: one(&pop.m_v),
            b_v: one(&pop.b_v),
            glif2: m.has_glif_reset(),
            adaptive: m.is_adaptive(),
            decay_k: first(&pop.decay_k),
            increment_k: first(&pop.increment_k),
            keep_k: first(&pop.keep_k),
        })
    }
}

/// Writes the input currents of neurons `j0..` of a block into `out` (the general case of
/// [`Currents`]).
pub(crate) trait Fill<R> {
    fn fill(&self, j0: usize, out: &mut [R]);
}

/// How a block's input currents are formed.
pub(crate) enum Currents<'a, R, F> {
    /// `(host + offset) + sched` with a uniform offset (bias + noise mean) and no noise; the
    /// host input of the block, if any.
    Host {
        host: Option<&'a [R]>,
        offset: R,
        sched: R,
    },
    /// Anything else: `fill(j0, out)` writes the currents of neurons j0.. of the block.
    Fill(&'a F),
}

/// One block of neurons: its currents, `v`, `r` and `th` (θ_1, empty for LIF) of equal length
/// (`th` may be empty), and the spike words of the block, zeroed. The three functions below
/// repeat this argument list on purpose: with the arrays gathered into a struct the compiler
/// no longer knows they do not overlap and stops vectorising (measured: 4.9e9 → 1.2e9 LIF
/// updates/s).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_block<R: Real, F: Fill<R>>(
    u: &Uniform<R>,
    arith: Arith,
    opts: StepOptions,
    cur: &Currents<'_, R, F>,
    v: &mut [R],
    r: &mut [R],
    th: &mut [R],
    words: &mut [u32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the processor has AVX2 and FMA (checked just above).
            unsafe { run_block_avx2(u, arith, opts, cur, v, r, th, words) };
            return;
        }
    }
    run_block_portable(u, arith, opts, cur, v, r, th, words)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn run_block_avx2<R: Real, F: Fill<R>>(
    u: &Uniform<R>,
    arith: Arith,
    opts: StepOptions,
    cur: &Currents<'_, R, F>,
    v: &mut [R],
    r: &mut [R],
    th: &mut [R],
    words: &mut [u32],
) {
    run_block_portable(u, arith, opts, cur, v, r, th, words)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn run_block_portable<R: Real, F: Fill<R>>(
    u: &Uniform<R>,
    arith: Arith,
    opts: StepOptions,
    cur: &Currents<'_, R, F>,
    v: &mut [R],
    r: &mut [R],
    th: &mut [R],
    words: &mut [u32],
) {
    match (arith, u.adaptive) {
        (Arith::Separate, false) => block::<R, F, false, false>(u, opts, cur, v, r, th, words),
        (Arith::Separate, true) => block::<R, F, false, true>(u, opts, cur, v, r, th, words),
        (Arith::Fused, false) => block::<R, F, true, false>(u, opts, cur, v, r, th, words),
        (Arith::Fused, true) => block::<R, F, true, true>(u, opts, cur, v, r, th, words),
    }
}

/// `a·b + c`, fused or separate (the twin of [`Arith::fma`], resolved at compile time).
#[inline(always)]
fn fma<R: Real, const FUSED: bool>(a: R, b: R, c: R) -> R {
    if FUSED {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn block<R: Real, F: Fill<R>, const FUSED: bool, const ADAPTIVE: bool>(
    u: &Uniform<R>,
    opts: StepOptions,
    cur: &Currents<'_, R, F>,
    v: &mut [R],
    r: &mut [R],
    th: &mut [R],
    words: &mut [u32],
) {
    let mut current = [R::ZERO; LANES];
    for (w, j0) in (0..v.len()).step_by(LANES).enumerate() {
        let len = LANES.min(v.len() - j0);
        let v = &mut v[j0..j0 + len];
        let r = &mut r[j0..j0 + len];
        let th: &mut [R] = if ADAPTIVE {
            &mut th[j0..j0 + len]
        } else {
            &mut []
        };
        words[w] = match *cur {
            // (host + (bias + mean)) + schedule, computed in the lane loop itself.
            Currents::Host {
                host,
                offset,
                sched,
            } => match host {
                Some(x) => {
                    let x = &x[j0..j0 + len];
                    lanes::<R, FUSED, ADAPTIVE>(u, opts, |j| (x[j] + offset) + sched, v, r, th)
                }
                None => {
                    let c = (R::ZERO + offset) + sched;
                    lanes::<R, FUSED, ADAPTIVE>(u, opts, |_| c, v, r, th)
                }
            },
            Currents::Fill(fill) => {
                let cur = &mut current[..len];
                fill.fill(j0, cur);
                lanes::<R, FUSED, ADAPTIVE>(u, opts, |j| cur[j], v, r, th)
            }
        };
    }
}

/// Up to 32 neurons; returns their spike word. The numbered steps are those of
/// `update_neuron`.
#[inline(always)]
fn lanes<R: Real, const FUSED: bool, const ADAPTIVE: bool>(
    u: &Uniform<R>,
    opts: StepOptions,
    cur: impl Fn(usize) -> R,
    v: &mut [R],
    r: &mut [R],
    th: &mut [R],
) -> u32 {
    let (lock, update_theta) = (opts.refrac_lock, ADAPTIVE && !opts.freeze_adaptation);
    let mut bits = 0u32;
    for j in 0..v.len() {
        // 1. Refractory countdown.
        let r_dec = r[j] - u.dt;
        let r_new = if r_dec > R::ZERO { r_dec } else { R::ZERO };
        let free = r_new == R::ZERO;
        // 2. Integration.
        let i_eff = if free { cur(j) } else { R::ZERO };
        let v0 = v[j];
        let a = v0 - u.v_rest;
        let b = fma::<R, FUSED>(-u.resistance, i_eff, a);
        let c = fma::<R, FUSED>(b, u.decay_m, u.v_rest);
        let v_star = fma::<R, FUSED>(u.resistance, i_eff, c);
        let v_int = if lock && !free { v0 } else { v_star };
        // 3. Threshold from the start of the step.
        let thr = if ADAPTIVE {
            th[j] + u.threshold
        } else {
            u.threshold
        };
        // 4. Spike.
        let spike = free & (v_int >= thr);
        // 5. Reset.
        let v_spiked = if u.glif2 {
            fma::<R, FUSED>(v_int - u.v_rest, u.m_v, u.v_rest) - u.b_v
        } else {
            u.v_reset
        };
        v[j] = if spike { v_spiked } else { v_int };
        let r_out = if spike { u.t_ref } else { r_new };
        r[j] = r_out;
        // 6. Adaptation (one component).
        if update_theta {
            let hold = lock && r_out > R::ZERO;
            let s = if spike { R::ONE } else { R::ZERO };
            let ds = u.increment_k * s;
            let th0 = if spike { th[j] * u.keep_k } else { th[j] };
            th[j] = if hold {
                th0 + ds
            } else {
                fma::<R, FUSED>(th0, u.decay_k, ds)
            };
        }
        bits |= (spike as u32) << j;
    }
    bits
}
