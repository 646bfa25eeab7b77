//! Exact integration of GLIF3–5 over one step (`MODELS.md`, "GLIF3, GLIF4, GLIF5").
//!
//! Within a step the dynamics are linear in the state z = (u, I_1..I_J, θ_v, w), with
//! u = V − V_rest and w = R·Ĩ held constant:
//!
//! ```text
//! τ_m du/dt = −u + w + R·Σ I_j      dI_j/dt = −k_j I_j      dθ_v/dt = a_v u − b_v θ_v
//! ```
//!
//! so one step is z' = exp(M·Δt)·z, computed once on the host in f64 (per population, or per
//! neuron when parameters differ). The matrix exponential (scaling and squaring of a Taylor
//! series) has no divisions, so the removable singularities of the closed form
//! (k_j·τ_m = 1, b_v·τ_m = 1, b_v = k_j) need no special case: they are just matrices.

/// The coefficients of one GLIF3–5 step for one neuron (f64).
///
/// ```
/// use glifsim::propagator::coefficients;
/// // One after-spike current (k = 0.3/ms) and no θ_v, at Δt = 0.1 ms, τ_m = 20 ms, R = 1 MΩ.
/// let c = coefficients(0.1, 20.0, 1.0, &[0.3], 0.0, 1.0);
/// assert!((c.asc_decay[0] - (-0.03f64).exp()).abs() < 1e-15);
/// assert!(c.asc_gain[0] > 0.0 && c.asc_gain[0] < 0.1 / 20.0); // less than (Δt/τ_m)·R
/// assert_eq!((c.thv_u, c.thv_w), (0.0, 0.0)); // a_v = 0: θ_v never moves
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Coefficients {
    /// ∂u'/∂I_j: how much each after-spike current moves the voltage in one step.
    pub asc_gain: Vec<f64>,
    /// g_j = exp(−k_j Δt).
    pub asc_decay: Vec<f64>,
    /// h = exp(−b_v Δt) (GLIF5).
    pub thv_decay: f64,
    /// ∂θ_v'/∂u.
    pub thv_u: f64,
    /// ∂θ_v'/∂w (w = R·Ĩ).
    pub thv_w: f64,
    /// ∂θ_v'/∂I_j.
    pub thv_asc: Vec<f64>,
}

/// The generator matrix M of the system, size J + 3: rows and columns are
/// (u, I_1..I_J, θ_v, w).
///
/// ```
/// let m = glifsim::propagator::generator(20.0, 1.0, &[0.3], 0.004, 0.1);
/// // Rows and columns (u, I_1, θ_v, w): u relaxes at 1/τ_m toward w + R·I_1.
/// assert_eq!(m.len(), 4);
/// assert_eq!((m[0][0], m[0][1], m[0][3]), (-1.0 / 20.0, 1.0 / 20.0, 1.0 / 20.0));
/// assert_eq!(m[1][1], -0.3);
/// assert_eq!((m[2][0], m[2][2]), (0.004, -0.1));
/// ```
pub fn generator(tau_m: f64, resistance: f64, k: &[f64], a_v: f64, b_v: f64) -> Vec<Vec<f64>> {
    let j = k.len();
    let n = j + 3;
    let (th, w) = (j + 1, j + 2);
    let mut m = vec![vec![0.0; n]; n];
    m[0][0] = -1.0 / tau_m;
    m[0][w] = 1.0 / tau_m;
    for (i, &kj) in k.iter().enumerate() {
        m[0][1 + i] = resistance / tau_m;
        m[1 + i][1 + i] = -kj;
    }
    m[th][0] = a_v;
    m[th][th] = -b_v;
    m
}

fn matmul(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = a.len();
    let mut c = vec![vec![0.0; n]; n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i][k];
            if aik != 0.0 {
                for j in 0..n {
                    c[i][j] += aik * b[k][j];
                }
            }
        }
    }
    c
}

/// exp(A) by scaling and squaring: A is scaled by 2^−s until its ∞-norm is ≤ 1/2, a Taylor
/// series of degree 24 is summed (truncation below 1e-20), and the result squared s times.
///
/// ```
/// use glifsim::propagator::expm;
/// // exp of a diagonal matrix: the exponentials of its entries.
/// let e = expm(&[vec![-0.5, 0.0], vec![0.0, 1.0]]);
/// assert!((e[0][0] - (-0.5f64).exp()).abs() < 1e-15 && (e[1][1] - 1f64.exp()).abs() < 1e-14);
/// assert_eq!((e[0][1], e[1][0]), (0.0, 0.0));
/// ```
pub fn expm(a: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = a.len();
    let norm = a
        .iter()
        .map(|r| r.iter().map(|x| x.abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let s = if norm > 0.5 {
        (norm / 0.5).log2().ceil() as i32
    } else {
        0
    };
    let scale = 0.5f64.powi(s);
    let a: Vec<Vec<f64>> = a
        .iter()
        .map(|r| r.iter().map(|x| x * scale).collect())
        .collect();
    let mut result = vec![vec![0.0; n]; n];
    let mut term = vec![vec![0.0; n]; n];
    for i in 0..n {
        result[i][i] = 1.0;
        term[i][i] = 1.0;
    }
    for k in 1..=24 {
        term = matmul(&term, &a);
        for row in term.iter_mut() {
            for x in row.iter_mut() {
                *x /= k as f64;
            }
        }
        for i in 0..n {
            for j in 0..n {
                result[i][j] += term[i][j];
            }
        }
    }
    for _ in 0..s {
        result = matmul(&result, &result);
    }
    result
}

/// The step coefficients for one neuron. `a_v`, `b_v` are the GLIF5 voltage-threshold rates
/// (pass a_v = 0, b_v = 1 when the model has no θ_v: its coefficients are then 0).
///
/// ```
/// use glifsim::propagator::coefficients;
/// // k·τ_m = 1, where the closed form divides by zero: the matrix exponential has no trouble.
/// let c = coefficients(0.1, 20.0, 1.0, &[0.05], 0.0, 1.0);
/// assert!(c.asc_gain[0].is_finite() && c.asc_gain[0] > 0.0);
/// ```
pub fn coefficients(
    dt: f64,
    tau_m: f64,
    resistance: f64,
    k: &[f64],
    a_v: f64,
    b_v: f64,
) -> Coefficients {
    let j = k.len();
    let m = generator(tau_m, resistance, k, a_v, b_v);
    let md: Vec<Vec<f64>> = m
        .iter()
        .map(|r| r.iter().map(|x| x * dt).collect())
        .collect();
    let p = expm(&md);
    let (th, w) = (j + 1, j + 2);
    Coefficients {
        asc_gain: (0..j).map(|i| p[0][1 + i]).collect(),
        asc_decay: k.iter().map(|kj| (-kj * dt).exp()).collect(),
        thv_decay: (-b_v * dt).exp(),
        thv_u: p[th][0],
        thv_w: p[th][w],
        thv_asc: (0..j).map(|i| p[th][1 + i]).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expm_of_diagonal_and_nilpotent() {
        let e = expm(&[vec![-2.0, 0.0], vec![0.0, 3.0]]);
        assert!((e[0][0] - (-2.0f64).exp()).abs() < 1e-15);
        assert!((e[1][1] / 3.0f64.exp() - 1.0).abs() < 1e-14);
        let e = expm(&[vec![0.0, 1.0], vec![0.0, 0.0]]);
        assert_eq!(e, vec![vec![1.0, 1.0], vec![0.0, 1.0]]);
    }

    #[test]
    fn lif_part_matches_closed_form() {
        // Without currents: u' = u·E + w·(1 − E).
        let c = coefficients(0.1, 20.0, 2.0, &[], 0.0, 1.0);
        assert!(c.asc_gain.is_empty());
        assert_eq!(c.thv_u, 0.0);
        assert_eq!(c.thv_w, 0.0);
        // One current: the closed form A_j·(g_j − E) per unit I_j, away from singularities.
        let (dt, tau, r, k) = (0.1, 20.0, 2.0, 0.3);
        let c = coefficients(dt, tau, r, &[k], 0.0, 1.0);
        let (e, g) = ((-dt / tau).exp(), (-k * dt).exp());
        let closed = r / (1.0 - k * tau) * (g - e);
        assert!(
            (c.asc_gain[0] - closed).abs() < 1e-12 * closed.abs(),
            "{} vs {closed}",
            c.asc_gain[0]
        );
    }
}
