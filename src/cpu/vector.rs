//! The vectorised CPU kernel: [`update_neuron`](super::update_neuron) rewritten as
//! straight-line lane loops over one spike word (32 neurons) at a time, for the populations
//! where that is possible without gathers: every parameter uniform, at most one θ component
//! and at most two after-spike currents (LIF and GLIF1; ALIF and GLIF2 with K = 1; GLIF3,
//! GLIF4 and GLIF5 with K ≤ 1 and J ≤ 2, the shape of the Allen Institute's fits).
//!
//! Every line computes the same IEEE operation as its twin in `update_neuron`, in the same
//! order, with branches turned into selects, so the results are bit-identical (the tests in
//! `tests/cpu.rs` hold the two against each other in both arithmetic modes, with the lock on
//! and off and with adaptation frozen). On x86-64 the loops are compiled twice more, for
//! AVX2 + FMA and for AVX-512, and the widest copy the processor runs is chosen at run time
//! (measured on Zen 4 at 1M neurons, 100-step runs: AVX-512 ran LIF 1.4×, ALIF 1.7× and
//! GLIF5 1.5× as fast as AVX2); elsewhere the compiler's baseline SIMD (SSE2, NEON) is used.
//! The copies compute the same IEEE operations (Rust never contracts a multiply and an add
//! into an FMA by itself), so they agree bit for bit; on a processor with AVX-512 the tests
//! run the AVX2 copy too (`GLIFSIM_NO_AVX512=1` in a child process).
//!
//! Its GPU twin is the wide step kernel, `shaders/wide.wgsl`: the same shapes (K ≤ 1, J ≤ 2,
//! θ_v), the same operations on `vec4`s of four neurons, with selects where `lanes` has them.

use super::NeuronParams;
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
    /// After-spike currents: J, and decay g_j, voltage gain c_j, kept fraction f_j,
    /// amplitude δI_j, θ_v coupling (first J entries used).
    j: usize,
    asc_decay: [R; MAX_J],
    asc_gain: [R; MAX_J],
    asc_keep: [R; MAX_J],
    asc_amp: [R; MAX_J],
    /// GLIF5: θ_v's decay h and couplings to u, w and each I_j.
    thv: bool,
    thv_decay: R,
    thv_u: R,
    thv_w: R,
    thv_asc: [R; MAX_J],
}

/// The most after-spike currents the vectorised kernel handles.
const MAX_J: usize = 2;

impl<R: Real> Uniform<R> {
    /// The kernel's parameters from the parameters every neuron shares (`Params::neuron` of a
    /// population with no per-neuron parameter), or `None` where the population has a shape
    /// this kernel does not serve.
    pub(crate) fn new(p: &NeuronParams<'_, R>) -> Option<Self> {
        let (k, j) = (p.decay_k.len(), p.asc_decay.len());
        if k != usize::from(p.adaptive) || j > MAX_J {
            return None;
        }
        let per_current = |xs: &[R]| {
            let mut out = [R::ZERO; MAX_J];
            out[..xs.len()].copy_from_slice(xs);
            out
        };
        let first = |xs: &[R]| xs.first().copied().unwrap_or(R::ZERO);
        let thv = p.thv.as_ref();
        Some(Uniform {
            dt: p.dt,
            v_rest: p.v_rest,
            v_reset: p.v_reset,
            threshold: p.threshold,
            t_ref: p.t_ref,
            resistance: p.resistance,
            decay_m: p.decay_m,
            m_v: p.m_v,
            b_v: p.b_v,
            glif2: p.glif2,
            adaptive: p.adaptive,
            decay_k: first(p.decay_k),
            increment_k: first(p.increment_k),
            keep_k: first(p.keep_k),
            j,
            asc_decay: per_current(p.asc_decay),
            asc_gain: per_current(p.asc_gain),
            asc_keep: per_current(p.asc_keep),
            asc_amp: per_current(p.asc_amp),
            thv: thv.is_some(),
            thv_decay: thv.map_or(R::ZERO, |t| t.decay),
            thv_u: thv.map_or(R::ZERO, |t| t.u),
            thv_w: thv.map_or(R::ZERO, |t| t.w),
            thv_asc: per_current(thv.map_or(&[][..], |t| t.asc)),
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
/// (`th` may be empty), and the spike words of the block, zeroed. The functions below (and the
/// copies `run_block_copy!` makes) repeat this argument list on purpose: with the arrays
/// gathered into a struct the compiler no longer knows they do not overlap and stops
/// vectorising (measured: 4.9e9 → 1.2e9 LIF updates/s).
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
    match simd() {
        // SAFETY: `simd()` found the copy's target features on this processor.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe { run_block_avx512(u, arith, opts, cur, v, r, th, words) },
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { run_block_avx2(u, arith, opts, cur, v, r, th, words) },
        _ => run_block_portable(u, arith, opts, cur, v, r, th, words),
    }
}

/// The compiled copies of the vectorised loops (this kernel's and `noise::noise_blocks`'s):
/// each x86-64 copy's target features are spelled in `run_block_copy!`'s uses and in
/// `noise_blocks_*` (`target_feature` takes only a literal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) enum Simd {
    /// The AVX-512 F, VL, BW, DQ and CD subsets, with AVX2 and FMA.
    Avx512,
    /// AVX2 and FMA.
    Avx2,
    /// The compiler's baseline (SSE2 on x86-64, NEON on AArch64).
    Baseline,
}

impl Simd {
    /// How `cpu::vector_kernel_copy` names it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Simd::Avx512 => "AVX-512",
            Simd::Avx2 => "AVX2 + FMA",
            Simd::Baseline => "baseline SIMD",
        }
    }
}

/// The widest copy this processor runs, decided once; `GLIFSIM_NO_AVX512=1` passes over
/// AVX-512 (the tests use it to run the AVX2 copy where AVX-512 would be chosen).
pub(crate) fn simd() -> Simd {
    static SIMD: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
    *SIMD.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 =
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            let avx512 = avx2
                && std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512dq")
                && std::is_x86_feature_detected!("avx512cd");
            if avx512 && std::env::var("GLIFSIM_NO_AVX512").as_deref() != Ok("1") {
                return Simd::Avx512;
            }
            if avx2 {
                return Simd::Avx2;
            }
        }
        Simd::Baseline
    })
}

/// `$name`: `run_block_portable` compiled with the target features `$features` (`run_block`
/// calls it where `simd()` found them).
macro_rules! run_block_copy {
    ($name:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $name<R: Real, F: Fill<R>>(
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
    };
}
run_block_copy!(
    run_block_avx512,
    "avx512f,avx512vl,avx512bw,avx512dq,avx512cd,avx2,fma"
);
run_block_copy!(run_block_avx2, "avx2,fma");

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
        (Arith::Separate, false) => shape::<R, F, false, false>(u, opts, cur, v, r, th, words),
        (Arith::Separate, true) => shape::<R, F, false, true>(u, opts, cur, v, r, th, words),
        (Arith::Fused, false) => shape::<R, F, true, false>(u, opts, cur, v, r, th, words),
        (Arith::Fused, true) => shape::<R, F, true, true>(u, opts, cur, v, r, th, words),
    }
}

/// The second half of the dispatch: J after-spike currents and θ_v, as constants.
#[inline(always)]
fn shape<R: Real, F: Fill<R>, const FUSED: bool, const ADAPTIVE: bool>(
    u: &Uniform<R>,
    opts: StepOptions,
    cur: &Currents<'_, R, F>,
    v: &mut [R],
    r: &mut [R],
    th: &mut [R],
    words: &mut [u32],
) {
    match (u.j, u.thv) {
        (0, false) => block::<R, F, FUSED, ADAPTIVE, 0, false>(u, opts, cur, v, r, th, words),
        (0, true) => block::<R, F, FUSED, ADAPTIVE, 0, true>(u, opts, cur, v, r, th, words),
        (1, false) => block::<R, F, FUSED, ADAPTIVE, 1, false>(u, opts, cur, v, r, th, words),
        (1, true) => block::<R, F, FUSED, ADAPTIVE, 1, true>(u, opts, cur, v, r, th, words),
        (_, false) => block::<R, F, FUSED, ADAPTIVE, 2, false>(u, opts, cur, v, r, th, words),
        (_, true) => block::<R, F, FUSED, ADAPTIVE, 2, true>(u, opts, cur, v, r, th, words),
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

/// The most state components per neuron the kernel handles: θ_1, I_1, I_2, θ_v.
const MAX_COMPONENTS: usize = 4;

/// State components per neuron: θ_1 (ADAPTIVE), I_1..I_J, θ_v (THV).
const fn stride(adaptive: bool, j: usize, thv: bool) -> usize {
    adaptive as usize + j + thv as usize
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<
    R: Real,
    F: Fill<R>,
    const FUSED: bool,
    const ADAPTIVE: bool,
    const J: usize,
    const THV: bool,
>(
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
        let c = stride(ADAPTIVE, J, THV);
        let th = &mut th[j0 * c..(j0 + len) * c];
        words[w] = match *cur {
            // (host + (bias + mean)) + schedule, computed in the lane loop itself.
            Currents::Host {
                host,
                offset,
                sched,
            } => match host {
                Some(x) => {
                    let x = &x[j0..j0 + len];
                    lanes::<R, FUSED, ADAPTIVE, J, THV>(
                        u,
                        opts,
                        |j| (x[j] + offset) + sched,
                        v,
                        r,
                        th,
                    )
                }
                None => {
                    let c = (R::ZERO + offset) + sched;
                    lanes::<R, FUSED, ADAPTIVE, J, THV>(u, opts, |_| c, v, r, th)
                }
            },
            Currents::Fill(fill) => {
                let cur = &mut current[..len];
                fill.fill(j0, cur);
                lanes::<R, FUSED, ADAPTIVE, J, THV>(u, opts, |j| cur[j], v, r, th)
            }
        };
    }
}

/// Where the lane loop reads and writes component k (θ_1, the currents, θ_v) of lane j.
trait Components<R> {
    fn get(&self, k: usize, j: usize) -> R;
    fn set(&mut self, k: usize, j: usize, x: R);
}

/// At most one component per neuron (LIF; ALIF and GLIF2: θ_1): the state's own `[N][C]`
/// layout is already contiguous, used in place.
struct InPlace<'a, R>(&'a mut [R]);

impl<R: Real> Components<R> for InPlace<'_, R> {
    #[inline(always)]
    fn get(&self, _k: usize, j: usize) -> R {
        self.0[j]
    }
    #[inline(always)]
    fn set(&mut self, _k: usize, j: usize, x: R) {
        self.0[j] = x;
    }
}

/// Two to four components (GLIF3–5) as planes, component k of lane j at `[k][j]`, copied from
/// the interleaved `[N][C]` layout before the loop and back after it, so that every access in
/// the loop is contiguous and it vectorises (read in place, the loop ran scalar: GLIF5 took
/// 6.0e8 updates/s in 100-step runs at 1M on AVX2, 1.3e9 as planes). One component is better
/// left in place (copied, ALIF lost half its speed).
struct Planes<R>([[R; LANES]; MAX_COMPONENTS]);

impl<R: Real> Components<R> for Planes<R> {
    #[inline(always)]
    fn get(&self, k: usize, j: usize) -> R {
        self.0[k][j]
    }
    #[inline(always)]
    fn set(&mut self, k: usize, j: usize, x: R) {
        self.0[k][j] = x;
    }
}

/// Up to 32 neurons; returns their spike word.
#[inline(always)]
fn lanes<R: Real, const FUSED: bool, const ADAPTIVE: bool, const J: usize, const THV: bool>(
    u: &Uniform<R>,
    opts: StepOptions,
    cur: impl Fn(usize) -> R,
    v: &mut [R],
    r: &mut [R],
    comps: &mut [R],
) -> u32 {
    let c = stride(ADAPTIVE, J, THV);
    if c <= 1 {
        return lanes_in::<R, FUSED, ADAPTIVE, J, THV>(u, opts, cur, v, r, &mut InPlace(comps));
    }
    let n = v.len();
    let mut planes = Planes([[R::ZERO; LANES]; MAX_COMPONENTS]);
    for j in 0..n {
        for k in 0..c {
            planes.0[k][j] = comps[j * c + k];
        }
    }
    let bits = lanes_in::<R, FUSED, ADAPTIVE, J, THV>(u, opts, cur, v, r, &mut planes);
    for j in 0..n {
        for k in 0..c {
            comps[j * c + k] = planes.0[k][j];
        }
    }
    bits
}

/// The lane loop over `v.len()` ≤ 32 neurons with their components in `comp`; returns the
/// spike word. The numbered steps are those of `update_neuron`.
#[inline(always)]
fn lanes_in<R: Real, const FUSED: bool, const ADAPTIVE: bool, const J: usize, const THV: bool>(
    u: &Uniform<R>,
    opts: StepOptions,
    cur: impl Fn(usize) -> R,
    v: &mut [R],
    r: &mut [R],
    comp: &mut impl Components<R>,
) -> u32 {
    let (lock, update_theta) = (opts.refrac_lock, ADAPTIVE && !opts.freeze_adaptation);
    // Where in a neuron's components θ_1, the currents and θ_v sit.
    let (at_theta, at_asc, at_thv) = (0, ADAPTIVE as usize, ADAPTIVE as usize + J);
    let mut bits = 0u32;
    for j in 0..v.len() {
        let mut asc = [R::ZERO; J];
        for (q, x) in asc.iter_mut().enumerate() {
            *x = comp.get(at_asc + q, j);
        }
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
        let mut v_star = fma::<R, FUSED>(u.resistance, i_eff, c);
        for (q, &current) in asc.iter().enumerate() {
            v_star = fma::<R, FUSED>(u.asc_gain[q], current, v_star);
        }
        let v_int = if lock && !free { v0 } else { v_star };
        // 3. Threshold from the start of the step: (θ_1 + Θ_∞) + θ_v.
        let mut thr = if ADAPTIVE {
            comp.get(at_theta, j) + u.threshold
        } else {
            u.threshold
        };
        if THV {
            thr = thr + comp.get(at_thv, j);
        }
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
        let hold = lock && r_out > R::ZERO;
        if ADAPTIVE {
            let s = if spike { R::ONE } else { R::ZERO };
            let ds = u.increment_k * s;
            let th = comp.get(at_theta, j);
            let th0 = if spike { th * u.keep_k } else { th };
            let updated = if hold {
                th0 + ds
            } else {
                fma::<R, FUSED>(th0, u.decay_k, ds)
            };
            comp.set(at_theta, j, if update_theta { updated } else { th });
        }
        // 7. θ_v from the start-of-step u = a, w = R·Ĩ and I_j; held like θ.
        if THV {
            let thv = comp.get(at_thv, j);
            let w = u.resistance * i_eff;
            let mut acc = thv * u.thv_decay;
            acc = fma::<R, FUSED>(a, u.thv_u, acc);
            acc = fma::<R, FUSED>(w, u.thv_w, acc);
            for (q, &current) in asc.iter().enumerate() {
                acc = fma::<R, FUSED>(u.thv_asc[q], current, acc);
            }
            let kept = hold || opts.freeze_adaptation;
            comp.set(at_thv, j, if kept { thv } else { acc });
        }
        // 8. After-spike currents: held or decayed; on a spike I_j ← f_j·I_j + δI_j.
        for (q, &current) in asc.iter().enumerate() {
            let held = if hold {
                current
            } else {
                current * u.asc_decay[q]
            };
            let jumped = fma::<R, FUSED>(u.asc_keep[q], held, u.asc_amp[q]);
            comp.set(at_asc + q, j, if spike { jumped } else { held });
        }
        bits |= (spike as u32) << j;
    }
    bits
}
