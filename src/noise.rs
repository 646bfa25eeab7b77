//! The noise generator shared by both paths: Philox4x32-10 blocks and the table that turns
//! one 32-bit word into a normal variate. WGSL twins: `philox`, `noise_block` and
//! `noise_value` in `shaders/common.wgsl`.
//!
//! **Counting.** The draw of (neuron, trial, step) is word `step mod 4` of the Philox4x32-10
//! block with key `seed` and counter `(neuron, trial, step ÷ 4)` (the quotient as two 32-bit
//! halves). A fused GPU dispatch computes one block per neuron every fourth step and keeps
//! it in registers, so the generator costs a quarter of a block per neuron-step.
//!
//! **The transform.** A word `w` gives a sign (bit 31) and a tail index `q` (bits 0–30); the
//! magnitude is the normal quantile `|x| = Φ⁻¹(1 − (q + ½)/2³²)`, approximated piecewise
//! linearly in `q` on cells that are finest in the tails: `q < 16` are table entries of their
//! own, and every octave `2ᵉ ≤ q < 2ᵉ⁺¹` (e = 4…30) is cut into 16 cells. Entry `i` holds
//! `(A, B)`: the quantile at the cell's left edge, rounded to f32 on the host from f64 (libm
//! `erfc` and Newton's method), and the exact difference to the next edge's; a draw is
//! `fma(frac, B, A)` with `frac` the exact position of `q` in its cell (at most 24 bits).
//! Integer operations, two table reads and one multiply-add: every driver gives the same bits
//! in the same arithmetic mode. The distribution is symmetric (mean exactly 0), reaches
//! ±6.3σ, and its variance is computed exactly from the table so that [`noise_gain`] gives the
//! requested standard deviation. The cells are small enough that the piecewise-linear
//! quantile is within 3·10⁻⁴ of Φ⁻¹ everywhere (tested, along with moments, tails and a
//! Kolmogorov–Smirnov distance).

use std::sync::OnceLock;

use crate::Arith;

/// Philox4x32-10 (Salmon et al. 2011, the Random123 generator): a counter-based generator,
/// so the noise of any (neuron, trial, step) is known without generating the others.
/// The WGSL twin is `philox` in `shaders/common.wgsl`.
///
/// ```
/// // The Random123 known-answer test.
/// assert_eq!(glifsim::noise::philox4x32_10([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
/// ```
// Always inlined: the vectorised loop of `noise_blocks` needs the body (the compiler's own
// choice was a call per neuron, 3.6x slower).
#[inline(always)]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    const M0: u64 = 0xD251_1F53;
    const M1: u64 = 0xCD9E_8D57;
    const W0: u32 = 0x9E37_79B9;
    const W1: u32 = 0xBB67_AE85;
    let (mut c, mut k) = (ctr, key);
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let p0 = M0 * c[0] as u64;
        let p1 = M1 * c[2] as u64;
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// Identifies the noise stream: bumped whenever a change would alter any draw, so that
/// checkpoints of noisy runs are not continued with other noise. Generator 1 (glifsim ≤ 0.1
/// before November 2026) drew one block per step and summed eight 16-bit uniforms.
///
/// ```
/// use glifsim::{checkpoint::Checkpoint, noise::NOISE_GENERATOR, Backend, Model, Population, Simulator};
/// let pop = Population::builder(Model::Lif, 10).build()?;
/// let meta = Checkpoint::meta_of(&[("p", &Simulator::new(&pop, 1, Backend::Cpu)?)])?;
/// assert_eq!(meta.noise_generator, NOISE_GENERATOR); // a checkpoint says which noise it drew
/// # Ok::<(), glifsim::Error>(())
/// ```
pub const NOISE_GENERATOR: u32 = 2;

/// The table of [`noise_value`]: entry `i` is `(a[i], b[i])`, the quantile at cell `i`'s left
/// edge and the exact difference to the next edge's. Two arrays rather than pairs, so that a
/// loop of draws vectorises (its table reads become one load per array and lane; measured on
/// Zen 4 with AVX2: 1.64 → 0.86 ns per draw). The GPU reads it interleaved
/// ([`NoiseTable::interleaved`]).
///
/// ```
/// use glifsim::noise::{noise_table, NOISE_TABLE_LEN};
/// let t = noise_table();
/// // Quantiles fall as q grows toward 2³¹ (the median): the cells join without a step back.
/// assert!((1..NOISE_TABLE_LEN).all(|i| t.a[i] <= t.a[i - 1]));
/// assert!((0..NOISE_TABLE_LEN - 1).all(|i| t.a[i] + t.b[i] == t.a[i + 1] || t.b[i] == 0.0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseTable {
    /// The quantile at each cell's left edge.
    pub a: [f32; NOISE_TABLE_LEN],
    /// The difference to the next cell's edge (0 for the 16 single-value entries).
    pub b: [f32; NOISE_TABLE_LEN],
}

impl NoiseTable {
    /// Entry `i` as `[a, b]`.
    ///
    /// ```
    /// let t = glifsim::noise::noise_table();
    /// assert_eq!(t.entry(5), [t.a[5], t.b[5]]);
    /// ```
    pub fn entry(&self, i: usize) -> [f32; 2] {
        [self.a[i], self.b[i]]
    }
    /// `a[0], b[0], a[1], b[1], …`: the layout of the table in the GPU's parameter buffer
    /// (entry `i` at `2i`, `2i + 1`; `noise_value` in `shaders/common.wgsl`).
    ///
    /// ```
    /// use glifsim::noise::{noise_table, NOISE_TABLE_LEN};
    /// let flat: Vec<f32> = noise_table().interleaved().collect();
    /// assert_eq!(flat.len(), 2 * NOISE_TABLE_LEN);
    /// assert_eq!(flat[2 * 7 + 1], noise_table().b[7]);
    /// ```
    pub fn interleaved(&self) -> impl Iterator<Item = f32> + '_ {
        (0..NOISE_TABLE_LEN).flat_map(|i| self.entry(i))
    }
}

/// Log₂ of the cells per octave.
const CELL_BITS: u32 = 4;
/// Cells per octave; also the number of deepest-tail entries (q < 16).
const CELLS: usize = 1 << CELL_BITS;
/// Entries of the noise table: 16 single values, then 16 cells for each octave e = 4…30.
///
/// ```
/// assert_eq!(glifsim::noise::NOISE_TABLE_LEN, 16 + 27 * 16);
/// ```
pub const NOISE_TABLE_LEN: usize = CELLS + (31 - CELL_BITS as usize) * CELLS;

/// The Philox block holding the draws of steps `4·(step ÷ 4)` to `4·(step ÷ 4) + 3` of one
/// neuron in one trial. WGSL twin: `noise_block`.
///
/// ```
/// use glifsim::noise::noise_block;
/// // Steps 8, 9, 10 and 11 share one block: each takes one of its four words.
/// assert_eq!(noise_block(7, 3, 0, 8), noise_block(7, 3, 0, 11));
/// assert_ne!(noise_block(7, 3, 0, 8), noise_block(7, 3, 0, 12));
/// assert_ne!(noise_block(7, 3, 0, 8), noise_block(7, 4, 0, 8)); // another neuron
/// assert_ne!(noise_block(7, 3, 0, 8), noise_block(7, 3, 1, 8)); // another trial
/// ```
#[inline(always)]
pub fn noise_block(seed: u64, neuron: u32, trial: u32, step: u64) -> [u32; 4] {
    let quad = step >> 2;
    philox4x32_10(
        [neuron, trial, quad as u32, (quad >> 32) as u32],
        [seed as u32, (seed >> 32) as u32],
    )
}

/// [`noise_block`] for `m = out.len() / 4` neurons `neuron0, neuron0 + 1, …` of one trial,
/// as four planes: word k of neuron `neuron0 + j`'s block at `out[k·m + j]`. How the CPU path
/// draws a block of neurons' noise every fourth step; the planes make one step's words a
/// contiguous run. The loop vectorises across neurons (Philox's 32 × 32 → 64-bit products
/// become `vpmuludq`); on x86-64 it is compiled twice more, for AVX2 and AVX-512, the widest
/// the processor runs chosen at run time (measured on Zen 4, with each neuron's four words
/// stored together: 6.4 ns per block with the baseline's SSE2, 2.3 ns with AVX2, 1.0 ns with
/// AVX-512).
///
/// ```
/// use glifsim::noise::{noise_block, noise_blocks};
/// let mut out = [0u32; 4 * 40];
/// noise_blocks(7, 100, 2, 12, &mut out);
/// let b = noise_block(7, 139, 2, 12);
/// assert_eq!([out[39], out[40 + 39], out[80 + 39], out[120 + 39]], b);
/// ```
pub fn noise_blocks(seed: u64, neuron0: u32, trial: u32, step: u64, out: &mut [u32]) {
    use crate::cpu::vector::{simd, Simd};
    match simd() {
        // SAFETY: `simd()` found the copy's target features on this processor.
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => unsafe { noise_blocks_avx512(seed, neuron0, trial, step, out) },
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { noise_blocks_avx2(seed, neuron0, trial, step, out) },
        _ => noise_blocks_portable(seed, neuron0, trial, step, out),
    }
}

// The features of `Simd::Avx512` and `Simd::Avx2` (`target_feature` takes only a literal).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx512cd,avx2,fma")]
unsafe fn noise_blocks_avx512(seed: u64, neuron0: u32, trial: u32, step: u64, out: &mut [u32]) {
    noise_blocks_portable(seed, neuron0, trial, step, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn noise_blocks_avx2(seed: u64, neuron0: u32, trial: u32, step: u64, out: &mut [u32]) {
    noise_blocks_portable(seed, neuron0, trial, step, out)
}

#[inline(always)]
fn noise_blocks_portable(seed: u64, neuron0: u32, trial: u32, step: u64, out: &mut [u32]) {
    let m = out.len() / 4;
    let (w0, rest) = out.split_at_mut(m);
    let (w1, rest) = rest.split_at_mut(m);
    let (w2, w3) = rest.split_at_mut(m);
    for (j, (((a, b), c), d)) in w0.iter_mut().zip(w1).zip(w2).zip(&mut w3[..m]).enumerate() {
        let blk = noise_block(seed, neuron0.wrapping_add(j as u32), trial, step);
        (*a, *b, *c, *d) = (blk[0], blk[1], blk[2], blk[3]);
    }
}

/// The normal variate of one 32-bit word, in arithmetic mode `arith` (the one multiply-add).
/// WGSL twin: `noise_value`.
///
/// ```
/// use glifsim::{noise::noise_value, Arith};
/// // Bit 31 is the sign; a tail index near 2³¹ is the centre, near 0 the far tail.
/// assert_eq!(noise_value(0x7fff_ffff, Arith::Separate), -noise_value(0xffff_ffff, Arith::Separate));
/// assert!(noise_value(0x7fff_ffff, Arith::Separate).abs() < 1e-6);
/// assert!(noise_value(0, Arith::Separate) > 6.0);
/// ```
#[inline]
pub fn noise_value(w: u32, arith: Arith) -> f32 {
    noise_value_in(noise_table(), w, arith)
}

/// [`noise_value`] with the table passed in (`noise_table()`), for loops over many words.
///
/// ```
/// use glifsim::{noise::{noise_table, noise_value, noise_value_in}, Arith};
/// let t = noise_table();
/// for w in [0u32, 1, 0x7fff_ffff, 0x8000_0000, 0xdead_beef] {
///     assert_eq!(noise_value_in(t, w, Arith::Separate), noise_value(w, Arith::Separate));
/// }
/// ```
#[inline(always)]
pub fn noise_value_in(table: &NoiseTable, w: u32, arith: Arith) -> f32 {
    let q = w & 0x7fff_ffff;
    // The WGSL twin branches on q ≥ 16; written without the branch (so that loops of draws
    // vectorise) the same formulas give i = q and frac = 0 below 16, where sh = 0.
    let e = 31 - (q | 1).leading_zeros(); // the octave: 2^e ≤ q < 2^(e+1)
    let sh = e.saturating_sub(CELL_BITS); // bits of q below the cell index
    let i = (CELLS as u32 + sh * CELLS as u32).wrapping_add((q >> sh).wrapping_sub(CELLS as u32));
    let rem = q & ((1u32 << sh) - 1);
    // The position in the cell, rem / 2^sh, from at most 24 bits so that it is exact.
    let d = sh.saturating_sub(24);
    let frac = (rem >> d) as f32 * f32::from_bits((127 - (sh - d)) << 23);
    // i < NOISE_TABLE_LEN always; the min lets the compiler drop the bounds checks.
    let i = (i as usize).min(NOISE_TABLE_LEN - 1);
    let mag = arith.fma(frac, table.b[i], table.a[i]);
    f32::from_bits(mag.to_bits() ^ (w & 0x8000_0000))
}

/// The noise draw of (neuron, trial, step): word `step mod 4` of its [`noise_block`], through
/// [`noise_value`]. Unit variance after multiplying by [`noise_gain`]`(1.0)`.
///
/// ```
/// use glifsim::{noise::{noise_draw, noise_gain}, Arith};
/// // 100,000 draws of one neuron: mean 0 and unit variance after the gain.
/// let g = noise_gain(1.0) as f32;
/// let x: Vec<f64> = (0..100_000).map(|t| (g * noise_draw(42, 0, 0, t, Arith::Separate)) as f64).collect();
/// let mean = x.iter().sum::<f64>() / x.len() as f64;
/// let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / x.len() as f64;
/// assert!(mean.abs() < 0.02 && (var - 1.0).abs() < 0.02, "mean {mean}, variance {var}");
/// ```
#[inline]
pub fn noise_draw(seed: u64, neuron: u32, trial: u32, step: u64, arith: Arith) -> f32 {
    noise_value(
        noise_block(seed, neuron, trial, step)[(step & 3) as usize],
        arith,
    )
}

/// The gain that turns a noise draw into a current of standard deviation `std`.
///
/// ```
/// use glifsim::noise::{noise_gain, noise_variance};
/// assert_eq!(noise_gain(2.0), 2.0 / noise_variance().sqrt());
/// assert_eq!(noise_gain(0.0), 0.0);
/// ```
pub fn noise_gain(std: f64) -> f64 {
    std / noise_variance().sqrt()
}

/// The table `(A, B)` of [`noise_value`] (built once, in f64, rounded to f32).
///
/// ```
/// let t = glifsim::noise::noise_table();
/// assert!(std::ptr::eq(t, glifsim::noise::noise_table())); // built once
/// assert!(t.a[0] > 6.0 && t.a[0] < 6.5); // the deepest tail: about 6.3σ
/// ```
pub fn noise_table() -> &'static NoiseTable {
    static TABLE: OnceLock<NoiseTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = Vec::with_capacity(NOISE_TABLE_LEN);
        for q in 0..CELLS as u64 {
            t.push((tail_quantile(q as f64) as f32, 0.0));
        }
        for sh in 0..31 - CELL_BITS {
            for c in 0..CELLS as u64 {
                // B is the exact difference of the rounded edges, so that a cell ends where
                // the next begins and the values decrease with q (no step back at an edge).
                let lo = tail_quantile(((CELLS as u64 + c) << sh) as f64) as f32;
                let hi = tail_quantile(((CELLS as u64 + c + 1) << sh) as f64) as f32;
                t.push((lo, hi - lo));
            }
        }
        assert_eq!(t.len(), NOISE_TABLE_LEN);
        NoiseTable {
            a: std::array::from_fn(|i| t[i].0),
            b: std::array::from_fn(|i| t[i].1),
        }
    })
}

/// The exact variance of [`noise_value`] over all 2³² words (separate arithmetic; the fused
/// mode differs in the last bits of single draws, not in the variance to f64 precision).
///
/// ```
/// let v = glifsim::noise::noise_variance();
/// assert!((v - 1.0).abs() < 1e-3, "{v}"); // the table's quantiles give almost exactly unit variance
/// ```
pub fn noise_variance() -> f64 {
    static VAR: OnceLock<f64> = OnceLock::new();
    *VAR.get_or_init(|| {
        let t = noise_table();
        let mut sum = 0.0f64; // Σ over q of |x|², as a mean over 2³¹ tail indices
        for &a in t.a.iter().take(CELLS) {
            sum += (a as f64).powi(2);
        }
        for (cell, (&a, &b)) in t.a.iter().zip(&t.b).skip(CELLS).enumerate() {
            let sh = cell as u32 / CELLS as u32;
            // frac takes 2^s equally likely values k / 2^s, k = 0 … 2^s − 1.
            let s = sh.min(24);
            let m = (1u64 << s) as f64;
            let e1 = (m - 1.0) / (2.0 * m);
            let e2 = (m - 1.0) * (2.0 * m - 1.0) / (6.0 * m * m);
            let (a, b) = (a as f64, b as f64);
            let mean_sq = a * a + 2.0 * a * b * e1 + b * b * e2;
            sum += mean_sq * (1u64 << sh) as f64;
        }
        sum / (1u64 << 31) as f64
    })
}

/// `Φ⁻¹(1 − p)` for the one-sided tail probability `p = (q + ½) / 2³²` (at most ½), in f64.
fn tail_quantile(q: f64) -> f64 {
    let p = ((q + 0.5) / 4_294_967_296.0).min(0.5);
    if p >= 0.5 {
        return 0.0;
    }
    // Solve ln Φ(−y) = ln p by Newton's method; ln Φ(−y) is concave, so the iteration
    // converges from any start. Φ(−y) = erfc(y/√2)/2.
    let target = p.ln();
    let mut y = (-2.0 * p.ln()).sqrt().min(1.0);
    for _ in 0..200 {
        let tail = 0.5 * libm::erfc(y / std::f64::consts::SQRT_2);
        let dens = (-0.5 * y * y).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let step = (tail.ln() - target) * tail / dens;
        y += step;
        if step.abs() <= 1e-15 * y.max(1.0) {
            break;
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_quantile_matches_known_normal_quantiles() {
        // Φ⁻¹(0.975) = 1.959963984540054, Φ⁻¹(1 − 1e-9) = 5.997807015...
        let q_for = |p: f64| p * 4_294_967_296.0 - 0.5;
        assert!((tail_quantile(q_for(0.025)) - 1.959963984540054).abs() < 1e-13);
        assert!((tail_quantile(q_for(0.5)) - 0.0).abs() < 1e-15);
        assert!((tail_quantile(q_for(0.158_655_253_931_457_05)) - 1.0).abs() < 1e-12);
        assert!((tail_quantile(q_for(1e-9)) - 5.997_807_015_007_687).abs() < 1e-10);
    }
}
