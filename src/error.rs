//! The one error type of the library.

use std::path::PathBuf;

/// Everything that can go wrong in glifsim. Every fallible call returns this, and a call that
/// returns an error leaves the simulator's state as it was.
///
/// ```
/// use glifsim::{Error, Model, Population};
/// let err = Population::builder(Model::Lif, 10).tau_m(-1.0).build().unwrap_err();
/// assert!(matches!(err, Error::InvalidParameter { name: "tau_m", .. }));
/// assert!(err.to_string().contains("tau_m"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model parameter broke one of the validation rules of `MODELS.md`.
    #[error("invalid parameter {name}{}: {value} ({rule})", index.map(|i| format!("[{i}]")).unwrap_or_default())]
    InvalidParameter {
        /// Parameter name as the builder spells it (`tau_m`, `v_th`, `adapt_tau[1]`, ...).
        name: &'static str,
        /// Neuron index for per-neuron arrays.
        index: Option<usize>,
        /// The offending value.
        value: f64,
        /// The rule that was broken, in words.
        rule: String,
    },
    /// A parameter the model needs was not given, or one it does not have was given.
    #[error("parameter {name}: {reason}")]
    Parameter {
        /// Parameter name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A per-neuron array or an input had the wrong number of values.
    #[error("{what}: expected {expected} values, got {got}")]
    Length {
        /// Which array.
        what: String,
        /// Expected number of values.
        expected: usize,
        /// Number of values given.
        got: usize,
    },
    /// An input current was NaN or infinite.
    #[error("{what}: value at index {index} is not finite ({value})")]
    NonFinite {
        /// Which array.
        what: String,
        /// Index of the first bad value.
        index: usize,
        /// The bad value.
        value: f64,
    },
    /// No GPU adapter could be found or opened.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// The population (or a run of it) does not fit: in device memory, in one buffer or
    /// dispatch of the device, or in host memory. Nothing was allocated.
    #[error("too large: {what}: {} needed, {}", amount(*needed, what), available.map_or("the device refused to allocate them".to_string(), |a| format!("{} available", amount(a, what))))]
    TooLarge {
        /// How much is needed, in the unit `what` names (bytes, or invocations).
        needed: u64,
        /// How much there is, where known (wgpu does not report free device memory).
        available: Option<u64>,
        /// What ran out, beginning with its unit: "bytes of host memory for the CPU path
        /// (MemAvailable)", "invocations in one dispatch", ...
        what: String,
    },
    /// The device reported an error (validation, out of memory, device lost).
    #[error("GPU device error: {0}")]
    Device(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is wrong.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, and where.
        message: String,
    },
    /// Bad use of the API (for example, a trial count of zero).
    #[error("{0}")]
    Usage(String),
}

/// Shorthand for `Result<T, glifsim::Error>`.
///
/// ```
/// fn neurons(spec: &str) -> glifsim::Result<glifsim::Population> {
///     let model: glifsim::Model = spec.parse()?;
///     glifsim::Population::builder(model, 100).build()
/// }
/// assert!(neurons("LIF").is_ok());
/// assert!(neurons("HH").is_err());
/// ```
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// `n` as the error says it: with gigabytes beside the count when `what` counts bytes.
fn amount(n: u64, what: &str) -> String {
    if what.starts_with("bytes") && n >= 1_000_000 {
        format!("{n} ({:.2} GB)", n as f64 / 1e9)
    } else {
        n.to_string()
    }
}
