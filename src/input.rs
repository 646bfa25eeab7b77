//! Input currents and their checks.

use crate::error::{Error, Result};
use crate::Real;

/// Return an error naming the first non-finite value of `xs`.
pub fn check_finite<R: Real>(what: &str, xs: &[R]) -> Result<()> {
    // Fast path: a sum of finite values may overflow to inf, so only use it as a hint.
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
