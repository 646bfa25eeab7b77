//! Simulation precision (f32, f64) and the two arithmetic modes.

/// The two ways a product that feeds a sum can be evaluated. See `MODELS.md`, "Agreement".
///
/// ```
/// use glifsim::Arith;
/// let (a, b, c) = (1.0f32 + f32::EPSILON * 16.0, 1.0f32 + f32::EPSILON * 16.0, -1.0f32);
/// assert_ne!(Arith::Separate.fma(a, b, c), Arith::Fused.fma(a, b, c));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arith {
    /// Round the product, then add: what the reference library and Mesa lavapipe do.
    #[default]
    Separate,
    /// One fused multiply-add (`mul_add`): what NVIDIA's driver does.
    Fused,
}

impl Arith {
    /// `a·b + c` in this mode.
    ///
    /// ```
    /// use glifsim::Arith;
    /// // 0.1 × 10 − 1: rounded then added, or fused (no rounding of the product).
    /// let (a, b, c) = (0.1f32, 10.0f32, -1.0f32);
    /// assert_eq!(Arith::Separate.fma(a, b, c), 0.0);
    /// assert_eq!(Arith::Fused.fma(a, b, c), 0.1f32.mul_add(10.0, -1.0));
    /// assert_ne!(Arith::Fused.fma(a, b, c), 0.0); // 1.49e-8: the product's rounding error
    /// ```
    #[inline(always)]
    pub fn fma<R: Real>(self, a: R, b: R, c: R) -> R {
        match self {
            Arith::Separate => a * b + c,
            Arith::Fused => a.mul_add(b, c),
        }
    }
}

impl std::fmt::Display for Arith {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arith::Separate => "separate",
            Arith::Fused => "fused",
        })
    }
}

/// A floating-point simulation precision: `f32` or `f64`.
///
/// ```
/// use glifsim::{Arith, CpuSim, Model, Population, Real};
/// // Code generic over the precision, as the CPU simulator is.
/// fn rest_of<R: Real>(pop: &Population) -> glifsim::Result<R> {
///     Ok(CpuSim::<R>::new(pop, 1, Arith::Separate)?.v()[0])
/// }
/// let pop = Population::builder(Model::Lif, 1).v_rest(-65.1).build()?;
/// assert_eq!(rest_of::<f64>(&pop)?, -65.1);
/// assert_eq!(rest_of::<f32>(&pop)?, -65.1f32);
/// assert_eq!(<f32 as Real>::DTYPE, "float32");
/// # Ok::<(), glifsim::Error>(())
/// ```
pub trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + PartialEq
    + std::fmt::Debug
    + std::fmt::Display
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Neg<Output = Self>
    + 'static
{
    /// Name of the type as the fixtures spell it (`float32`, `float64`).
    const DTYPE: &'static str;
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// Round an f64 once to this precision.
    fn from_f64(x: f64) -> Self;
    /// Widen to f64 (exact).
    fn to_f64(self) -> f64;
    /// Fused multiply-add, one rounding.
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// Whether the value is finite.
    fn is_finite(self) -> bool;
    /// Bit pattern, widened to u64, for bit-exact comparisons.
    fn bits(self) -> u64;
}

macro_rules! impl_real {
    ($t:ty, $name:literal) => {
        impl Real for $t {
            const DTYPE: &'static str = $name;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn mul_add(self, b: Self, c: Self) -> Self {
                <$t>::mul_add(self, b, c)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn bits(self) -> u64 {
                self.to_bits() as u64
            }
        }
    };
}
impl_real!(f32, "float32");
impl_real!(f64, "float64");
