//! The vectorised CPU kernel: [`update_neuron`](super::update_neuron) rewritten as
//! straight-line lane loops over one spike word (32 neurons) at a time, for every population
//! with at most one θ component and at most two after-spike currents (LIF and GLIF1; ALIF and
//! GLIF2 with K = 1; GLIF3, GLIF4 and GLIF5 with K ≤ 1 and J ≤ 2, the shape of the Allen
//! Institute's fits), with shared or per-neuron parameters.
//!
//! Every line computes the same IEEE operation as its twin in `update_neuron`, in the same
//! order, with branches turned into selects, so the results are bit-identical (the tests in
//! `tests/cpu.rs` hold the two against each other in both arithmetic modes, with the lock on
//! and off, with adaptation frozen and with per-neuron parameters). On x86-64 the loops are
//! compiled twice more, for AVX2 + FMA and for AVX-512, and the widest copy the processor runs
//! is chosen at run time (measured on Zen 4 at 1M neurons, 100-step runs: AVX-512 ran LIF
//! 1.4×, ALIF 1.7× and GLIF5 1.5× as fast as AVX2); elsewhere the compiler's baseline SIMD
//! (SSE2, NEON) is used. The copies compute the same IEEE operations (Rust never contracts a
//! multiply and an add into an FMA by itself), so they agree bit for bit; on a processor with
//! AVX-512 the tests run the AVX2 copy too (`GLIFSIM_NO_AVX512=1` in a child process).
//!
//! Parameters are read by slot (`get(slot, lane)`), like the shader's `param(slot, n)`: a
//! population whose parameters are all shared reads constants ([`Shared`]); one with
//! per-neuron parameters copies those of each word's 32 neurons into lane arrays first
//! ([`PerLane`]), so the loop still reads contiguous memory and vectorises.
//!
//! Its GPU twin is the wide step kernel, `shaders/wide.wgsl`: the same shapes (K ≤ 1, J ≤ 2,
//! θ_v), the same operations on `vec4`s of four neurons, with selects where `lanes` has them.

use super::{Params, P};
use crate::state::StepOptions;
use crate::{Arith, Real};

/// Neurons per lane loop: one spike word.
const LANES: usize = 32;

/// The most after-spike currents the vectorised kernel handles.
const MAX_J: usize = 2;

/// The parameter slots of the lane loop (the kernel's shape fixed at K ≤ 1, J ≤ 2, so the
/// slots are constants; the shader's `SLOT_*` count K and J instead).
mod slot {
    pub const V_REST: usize = 0;
    pub const V_RESET: usize = 1;
    pub const THRESHOLD: usize = 2;
    pub const T_REF: usize = 3;
    pub const RESISTANCE: usize = 4;
    pub const DECAY_M: usize = 5;
    pub const M_V: usize = 6;
    pub const B_V: usize = 7;
    /// θ_1: decay e_1, increment d_1, spike reset factor r_1.
    pub const DECAY_K: usize = 8;
    pub const INCREMENT_K: usize = 9;
    pub const KEEP_K: usize = 10;
    /// After-spike current q (q < 2): decay g_q, voltage gain c_q, kept fraction f_q,
    /// amplitude δI_q.
    pub const ASC_DECAY: usize = 11;
    pub const ASC_GAIN: usize = 13;
    pub const ASC_KEEP: usize = 15;
    pub const ASC_AMP: usize = 17;
    /// θ_v (GLIF5): decay h, couplings to u and w, then to I_q.
    pub const THV_DECAY: usize = 19;
    pub const THV_U: usize = 20;
    pub const THV_W: usize = 21;
    pub const THV_ASC: usize = 22;
    /// How many.
    pub const COUNT: usize = 24;
}

/// The parameter in slot `s` of `p`, or `None` where the population has none there (a θ_1,
/// current or θ_v slot of a model without it).
fn slot_param<R>(p: &Params<R>, s: usize) -> Option<&P<R>> {
    fn at<R>(list: &[P<R>], i: usize) -> Option<&P<R>> {
        list.get(i)
    }
    use slot::*;
    match s {
        V_REST => Some(&p.v_rest),
        V_RESET => Some(&p.v_reset),
        THRESHOLD => Some(&p.threshold),
        T_REF => Some(&p.t_ref),
        RESISTANCE => Some(&p.resistance),
        DECAY_M => Some(&p.decay_m),
        M_V => Some(&p.m_v),
        B_V => Some(&p.b_v),
        DECAY_K => at(&p.decay_k, 0),
        INCREMENT_K => at(&p.increment_k, 0),
        KEEP_K => at(&p.keep_k, 0),
        THV_DECAY => p.thv.then_some(&p.thv_decay),
        THV_U => p.thv.then_some(&p.thv_u),
        THV_W => p.thv.then_some(&p.thv_w),
        _ if s < ASC_GAIN => at(&p.asc_decay, s - ASC_DECAY),
        _ if s < ASC_KEEP => at(&p.asc_gain, s - ASC_GAIN),
        _ if s < ASC_AMP => at(&p.asc_keep, s - ASC_KEEP),
        _ if s < THV_DECAY => at(&p.asc_amp, s - ASC_AMP),
        _ => at(&p.thv_asc, s - THV_ASC),
    }
}

/// The vectorised kernel's view of a population: its shape, the values of its shared
/// parameters, and which slots have one value per neuron.
#[derive(Debug, Clone)]
pub(crate) struct Kernel<R> {
    dt: R,
    glif2: bool,
    adaptive: bool,
    /// After-spike currents J.
    j: usize,
    /// GLIF5's θ_v.
    thv: bool,
    /// Each slot's value where every neuron shares it (zero for unused and per-neuron slots).
    shared: [R; slot::COUNT],
    /// The slots with one value per neuron.
    per_neuron: Vec<usize>,
}

impl<R: Real> Kernel<R> {
    /// The kernel for a population's parameters, or `None` where the population has a shape
    /// this kernel does not serve (K ≥ 2, J ≥ 3).
    pub(super) fn new(p: &Params<R>) -> Option<Self> {
        let (k, j) = (p.decay_k.len(), p.asc_decay.len());
        if k != usize::from(p.adaptive) || j > MAX_J {
            return None;
        }
        let mut shared = [R::ZERO; slot::COUNT];
        let mut per_neuron = Vec::new();
        for (s, value) in shared.iter_mut().enumerate() {
            match slot_param(p, s) {
                Some(q) if q.per_neuron => per_neuron.push(s),
                Some(q) => *value = q.values[0],
                None => {}
            }
        }
        Some(Kernel {
            dt: p.dt,
            glif2: p.glif2,
            adaptive: p.adaptive,
            j,
            thv: p.thv,
            shared,
            per_neuron,
        })
    }

    /// The per-neuron parameters of neurons `n0..n0 + len` (the empty slice in the slots
    /// that are shared).
    pub(super) fn columns<'a>(&self, p: &'a Params<R>, n0: usize, len: usize) -> Columns<'a, R> {
        let mut cols: Columns<'a, R> = [&[]; slot::COUNT];
        for &s in &self.per_neuron {
            if let Some(q) = slot_param(p, s) {
                cols[s] = &q.values[n0..n0 + len];
            }
        }
        cols
    }
}

/// One block's per-neuron parameters by slot ([`Kernel::columns`]).
pub(crate) type Columns<'a, R> = [&'a [R]; slot::COUNT];

/// Where the lane loop reads parameter `slot` of lane `j` (CPU twin of the shader's
/// `param(slot, n)`).
trait LaneParams<R> {
    /// Make the parameters of lanes `0..len` those of the block's neurons `j0..j0 + len`.
    fn load(&mut self, j0: usize, len: usize);
    fn get(&self, slot: usize, j: usize) -> R;
}

/// Every parameter shared: constants, hoisted out of the loop. Borrowed from the kernel: an
/// owned copy of the array was kept less well in registers (ALIF ran 15 % slower).
struct Shared<'a, R>(&'a [R; slot::COUNT]);

impl<R: Real> LaneParams<R> for Shared<'_, R> {
    #[inline(always)]
    fn load(&mut self, _j0: usize, _len: usize) {}
    #[inline(always)]
    fn get(&self, slot: usize, _j: usize) -> R {
        self.0[slot]
    }
}

/// Some parameters per neuron: every slot as 32 lanes, the shared ones filled once, the
/// per-neuron ones copied for each word (lanes past a short last word keep stale values,
/// which only those lanes read).
struct PerLane<'a, R> {
    lanes: [[R; LANES]; slot::COUNT],
    cols: &'a Columns<'a, R>,
    per_neuron: &'a [usize],
}

impl<R: Real> LaneParams<R> for PerLane<'_, R> {
    #[inline(always)]
    fn load(&mut self, j0: usize, len: usize) {
        for &s in self.per_neuron {
            let from = &self.cols[s][j0..j0 + len];
            if let Ok(word) = <&[R; LANES]>::try_from(from) {
                // A whole word: a fixed-length copy, inlined as vector moves (a copy of
                // `len` values is a call to memcpy per slot and word).
                self.lanes[s] = *word;
            } else {
                self.lanes[s][..len].copy_from_slice(from);
            }
        }
    }
    #[inline(always)]
    fn get(&self, slot: usize, j: usize) -> R {
        self.lanes[slot][j]
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
/// copies `block_copy!` makes) repeat this argument list on purpose: with the arrays
/// gathered into a struct the compiler no longer knows they do not overlap and stops
/// vectorising (measured: 4.9e9 → 1.2e9 LIF updates/s).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_block<R: Real, F: Fill<R>>(
    k: &Kernel<R>,
    cols: &Columns<'_, R>,
    arith: Arith,
    opts: StepOptions,
    cur: &Currents<'_, R, F>,
    v: &mut [R],
    r: &mut [R],
    th: &mut [R],
    words: &mut [u32],
) {
    // The shape's constants one after another, then the SIMD copy of that shape's loop
    // (`leaf`): each shape and copy is a function of its own.
    let a = Args { k, cols, opts, cur };
    match (k.per_neuron.is_empty(), arith, k.adaptive) {
        (true, Arith::Separate, false) => by_shape::<R, F, false, false, false>(a, v, r, th, words),
        (true, Arith::Separate, true) => by_shape::<R, F, false, false, true>(a, v, r, th, words),
        (true, Arith::Fused, false) => by_shape::<R, F, false, true, false>(a, v, r, th, words),
        (true, Arith::Fused, true) => by_shape::<R, F, false, true, true>(a, v, r, th, words),
        (false, Arith::Separate, false) => by_shape::<R, F, true, false, false>(a, v, r, th, words),
        (false, Arith::Separate, true) => by_shape::<R, F, true, false, true>(a, v, r, th, words),
        (false, Arith::Fused, false) => by_shape::<R, F, true, true, false>(a, v, r, th, words),
        (false, Arith::Fused, true) => by_shape::<R, F, true, true, true>(a, v, r, th, words),
    }
}

/// The compiled copies of the vectorised loops (this kernel's and `noise::noise_blocks`'s):
/// each x86-64 copy's target features are spelled in `block_copy!`'s uses and in
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

/// The read-only arguments of a block (the state and spike words stay separate arguments,
/// which the compiler knows do not overlap).
struct Args<'a, 'c, R, F> {
    k: &'a Kernel<R>,
    cols: &'a Columns<'c, R>,
    opts: StepOptions,
    cur: &'a Currents<'a, R, F>,
}

impl<R, F> Clone for Args<'_, '_, R, F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R, F> Copy for Args<'_, '_, R, F> {}

/// J after-spike currents and θ_v as constants.
fn by_shape<R: Real, F: Fill<R>, const PN: bool, const FUSED: bool, const ADAPTIVE: bool>(
    a: Args<'_, '_, R, F>,
    v: &mut [R],
    r: &mut [R],
    th: &mut [R],
    words: &mut [u32],
) {
    match (a.k.j, a.k.thv) {
        (0, false) => leaf::<R, F, PN, FUSED, ADAPTIVE, 0, false>(a, v, r, th, words),
        (0, true) => leaf::<R, F, PN, FUSED, ADAPTIVE, 0, true>(a, v, r, th, words),
        (1, false) => leaf::<R, F, PN, FUSED, ADAPTIVE, 1, false>(a, v, r, th, words),
        (1, true) => leaf::<R, F, PN, FUSED, ADAPTIVE, 1, true>(a, v, r, th, words),
        (_, false) => leaf::<R, F, PN, FUSED, ADAPTIVE, 2, false>(a, v, r, th, words),
        (_, true) => leaf::<R, F, PN, FUSED, ADAPTIVE, 2, true>(a, v, r, th, words),
    }
}

/// The widest copy of one shape's loop that this processor runs.
fn leaf<
    R: Real,
    F: Fill<R>,
    const PN: bool,
    const FUSED: bool,
    const ADAPTIVE: bool,
    const J: usize,
    const THV: bool,
>(
    a: Args<'_, '_, R, F>,
    v: &mut [R],
    r: &mut [R],
    th: &mut [R],
    words: &mut [u32],
) {
    let Args { k, cols, opts, cur } = a;
    match simd() {
        // SAFETY: `simd()` found the copy's target features on this processor.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe {
            block_avx512::<R, F, PN, FUSED, ADAPTIVE, J, THV>(k, cols, opts, cur, v, r, th, words)
        },
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe {
            block_avx2::<R, F, PN, FUSED, ADAPTIVE, J, THV>(k, cols, opts, cur, v, r, th, words)
        },
        _ => {
            block_portable::<R, F, PN, FUSED, ADAPTIVE, J, THV>(k, cols, opts, cur, v, r, th, words)
        }
    }
}

/// `$name`: `block_portable` compiled with the target features `$features` (`leaf` calls it
/// where `simd()` found them).
macro_rules! block_copy {
    ($name:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $name<
            R: Real,
            F: Fill<R>,
            const PN: bool,
            const FUSED: bool,
            const ADAPTIVE: bool,
            const J: usize,
            const THV: bool,
        >(
            k: &Kernel<R>,
            cols: &Columns<'_, R>,
            opts: StepOptions,
            cur: &Currents<'_, R, F>,
            v: &mut [R],
            r: &mut [R],
            th: &mut [R],
            words: &mut [u32],
        ) {
            block_portable::<R, F, PN, FUSED, ADAPTIVE, J, THV>(k, cols, opts, cur, v, r, th, words)
        }
    };
}
block_copy!(
    block_avx512,
    "avx512f,avx512vl,avx512bw,avx512dq,avx512cd,avx2,fma"
);
block_copy!(block_avx2, "avx2,fma");

/// One shape's loop in the compiler's baseline SIMD, and what the copies compile: shared
/// parameters as constants, or per-neuron ones in lanes. Every reference is an argument of
/// its own, so that the compiler knows that nothing written through the state changes the
/// parameters.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_portable<
    R: Real,
    F: Fill<R>,
    const PN: bool,
    const FUSED: bool,
    const ADAPTIVE: bool,
    const J: usize,
    const THV: bool,
>(
    k: &Kernel<R>,
    cols: &Columns<'_, R>,
    opts: StepOptions,
    cur: &Currents<'_, R, F>,
    v: &mut [R],
    r: &mut [R],
    th: &mut [R],
    words: &mut [u32],
) {
    let a = Args { k, cols, opts, cur };
    if !PN {
        let p = Shared(&k.shared);
        return block::<R, F, FUSED, ADAPTIVE, J, THV>(a, p, v, r, th, words);
    }
    let p = PerLane {
        lanes: k.shared.map(|x| [x; LANES]),
        cols,
        per_neuron: &k.per_neuron,
    };
    block::<R, F, FUSED, ADAPTIVE, J, THV>(a, p, v, r, th, words)
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
    a: Args<'_, '_, R, F>,
    mut p: impl LaneParams<R>,
    v: &mut [R],
    r: &mut [R],
    th: &mut [R],
    words: &mut [u32],
) {
    let (k, opts) = (a.k, a.opts);
    let mut current = [R::ZERO; LANES];
    for (w, j0) in (0..v.len()).step_by(LANES).enumerate() {
        let len = LANES.min(v.len() - j0);
        let v = &mut v[j0..j0 + len];
        let r = &mut r[j0..j0 + len];
        let c = stride(ADAPTIVE, J, THV);
        let th = &mut th[j0 * c..(j0 + len) * c];
        p.load(j0, len);
        let p = &p;
        words[w] = match *a.cur {
            // (host + (bias + mean)) + schedule, computed in the lane loop itself.
            Currents::Host {
                host,
                offset,
                sched,
            } => match host {
                Some(x) => {
                    let x = &x[j0..j0 + len];
                    lanes::<R, FUSED, ADAPTIVE, J, THV>(
                        k,
                        p,
                        opts,
                        |j| (x[j] + offset) + sched,
                        v,
                        r,
                        th,
                    )
                }
                None => {
                    let c = (R::ZERO + offset) + sched;
                    lanes::<R, FUSED, ADAPTIVE, J, THV>(k, p, opts, |_| c, v, r, th)
                }
            },
            Currents::Fill(fill) => {
                let cur = &mut current[..len];
                fill.fill(j0, cur);
                lanes::<R, FUSED, ADAPTIVE, J, THV>(k, p, opts, |j| cur[j], v, r, th)
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
    k: &Kernel<R>,
    p: &impl LaneParams<R>,
    opts: StepOptions,
    cur: impl Fn(usize) -> R,
    v: &mut [R],
    r: &mut [R],
    comps: &mut [R],
) -> u32 {
    let c = stride(ADAPTIVE, J, THV);
    if c <= 1 {
        return lanes_in::<R, FUSED, ADAPTIVE, J, THV>(k, p, opts, cur, v, r, &mut InPlace(comps));
    }
    let n = v.len();
    let mut planes = Planes([[R::ZERO; LANES]; MAX_COMPONENTS]);
    for j in 0..n {
        for k in 0..c {
            planes.0[k][j] = comps[j * c + k];
        }
    }
    let bits = lanes_in::<R, FUSED, ADAPTIVE, J, THV>(k, p, opts, cur, v, r, &mut planes);
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
    k: &Kernel<R>,
    p: &impl LaneParams<R>,
    opts: StepOptions,
    cur: impl Fn(usize) -> R,
    v: &mut [R],
    r: &mut [R],
    comp: &mut impl Components<R>,
) -> u32 {
    use slot::*;
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
        let r_dec = r[j] - k.dt;
        let r_new = if r_dec > R::ZERO { r_dec } else { R::ZERO };
        let free = r_new == R::ZERO;
        // 2. Integration.
        let i_eff = if free { cur(j) } else { R::ZERO };
        let (v_rest, resistance) = (p.get(V_REST, j), p.get(RESISTANCE, j));
        let v0 = v[j];
        let a = v0 - v_rest;
        let b = fma::<R, FUSED>(-resistance, i_eff, a);
        let c = fma::<R, FUSED>(b, p.get(DECAY_M, j), v_rest);
        let mut v_star = fma::<R, FUSED>(resistance, i_eff, c);
        for (q, &current) in asc.iter().enumerate() {
            v_star = fma::<R, FUSED>(p.get(ASC_GAIN + q, j), current, v_star);
        }
        let v_int = if lock && !free { v0 } else { v_star };
        // 3. Threshold from the start of the step: (θ_1 + Θ_∞) + θ_v.
        let mut thr = if ADAPTIVE {
            comp.get(at_theta, j) + p.get(THRESHOLD, j)
        } else {
            p.get(THRESHOLD, j)
        };
        if THV {
            thr = thr + comp.get(at_thv, j);
        }
        // 4. Spike.
        let spike = free & (v_int >= thr);
        // 5. Reset.
        let v_spiked = if k.glif2 {
            fma::<R, FUSED>(v_int - v_rest, p.get(M_V, j), v_rest) - p.get(B_V, j)
        } else {
            p.get(V_RESET, j)
        };
        v[j] = if spike { v_spiked } else { v_int };
        let r_out = if spike { p.get(T_REF, j) } else { r_new };
        r[j] = r_out;
        // 6. Adaptation (one component).
        let hold = lock && r_out > R::ZERO;
        if ADAPTIVE {
            let s = if spike { R::ONE } else { R::ZERO };
            let ds = p.get(INCREMENT_K, j) * s;
            let th = comp.get(at_theta, j);
            let th0 = if spike { th * p.get(KEEP_K, j) } else { th };
            let updated = if hold {
                th0 + ds
            } else {
                fma::<R, FUSED>(th0, p.get(DECAY_K, j), ds)
            };
            comp.set(at_theta, j, if update_theta { updated } else { th });
        }
        // 7. θ_v from the start-of-step u = a, w = R·Ĩ and I_j; held like θ.
        if THV {
            let thv = comp.get(at_thv, j);
            let w = resistance * i_eff;
            let mut acc = thv * p.get(THV_DECAY, j);
            acc = fma::<R, FUSED>(a, p.get(THV_U, j), acc);
            acc = fma::<R, FUSED>(w, p.get(THV_W, j), acc);
            for (q, &current) in asc.iter().enumerate() {
                acc = fma::<R, FUSED>(p.get(THV_ASC + q, j), current, acc);
            }
            let kept = hold || opts.freeze_adaptation;
            comp.set(at_thv, j, if kept { thv } else { acc });
        }
        // 8. After-spike currents: held or decayed; on a spike I_j ← f_j·I_j + δI_j.
        for (q, &current) in asc.iter().enumerate() {
            let held = if hold {
                current
            } else {
                current * p.get(ASC_DECAY + q, j)
            };
            let jumped = fma::<R, FUSED>(p.get(ASC_KEEP + q, j), held, p.get(ASC_AMP + q, j));
            comp.set(at_asc + q, j, if spike { jumped } else { held });
        }
        bits |= (spike as u32) << j;
    }
    bits
}
