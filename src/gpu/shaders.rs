//! The WGSL sources, embedded at compile time from `shaders/`.
//!
//! For kernel experiments on a machine without a Rust toolchain (a lent GPU), the step
//! kernels' files can be replaced at run time: with `GLIFSIM_SHADER_DIR=DIR` (empty: unset),
//! each file that [`step_source`] and [`wide_source`] assemble is read from `DIR/<name>.wgsl`
//! where that file exists (a warning names it; [`step_source_in`]), and taken from the
//! embedded copy otherwise. A file that exists but cannot be read is an error at pipeline
//! creation. `scripts/kernel_variants.py` writes such directories.

use std::borrow::Cow;
use std::path::Path;

use crate::error::{Error, Result};

/// Bindings, parameter access, noise and the shared steps of `update_neuron`, for every step
/// kernel.
///
/// ```
/// use glifsim::gpu::shaders::{step_source, wide_source, COMMON};
/// // Every step kernel, lane or wide, is assembled around it.
/// assert!(step_source(glifsim::Model::Glif5, Default::default()).contains(COMMON));
/// assert!(wide_source(Default::default()).contains(COMMON));
/// ```
pub const COMMON: &str = include_str!("../../shaders/common.wgsl");
/// One neuron per invocation: the state and input bindings and one step of one invocation.
///
/// ```
/// use glifsim::gpu::shaders::{step_source, wide_source, LANE};
/// assert!(step_source(glifsim::Model::Alif, Default::default()).contains(LANE));
/// assert!(!wide_source(Default::default()).contains(LANE));
/// ```
pub const LANE: &str = include_str!("../../shaders/lane.wgsl");
/// Four neurons per invocation (any model with K ≤ 1 and J ≤ 2, any input): 16-byte state,
/// input and noise-cache access.
///
/// ```
/// use glifsim::gpu::shaders::{wide_source, WIDE};
/// assert!(wide_source(Default::default()).contains(WIDE));
/// ```
pub const WIDE: &str = include_str!("../../shaders/wide.wgsl");
/// LIF / GLIF1 / ALIF / GLIF2 step (K threshold components, 0 for LIF and GLIF1).
///
/// ```
/// use glifsim::{gpu::shaders::{step_source, LIF}, Model};
/// for m in [Model::Lif, Model::Glif1, Model::Alif, Model::Glif2] {
///     assert!(step_source(m, Default::default()).contains(LIF));
/// }
/// ```
pub const LIF: &str = include_str!("../../shaders/lif.wgsl");
/// GLIF3 / GLIF4 / GLIF5 step.
///
/// ```
/// use glifsim::{gpu::shaders::{step_source, GLIF, LIF}, Model};
/// let src = step_source(Model::Glif3, Default::default());
/// assert!(src.contains(GLIF) && !src.contains(LIF));
/// ```
pub const GLIF: &str = include_str!("../../shaders/glif.wgsl");
/// The arithmetic-mode probe.
///
/// ```
/// // A whole module on its own: it parses and validates.
/// let module = naga::front::wgsl::parse_str(glifsim::gpu::shaders::CALIBRATE).unwrap();
/// naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
///     .validate(&module)
///     .unwrap();
/// ```
pub const CALIBRATE: &str = include_str!("../../shaders/calibrate.wgsl");

/// Entry point building spike words in workgroup memory (any adapter).
///
/// ```
/// use glifsim::gpu::shaders::{step_source, Variant, MAIN_BALLOT, MAIN_WORKGROUP};
/// let src = step_source(glifsim::Model::Lif, Variant { ballot: false, ..Default::default() });
/// assert!(src.contains(MAIN_WORKGROUP) && !src.contains(MAIN_BALLOT));
/// ```
pub const MAIN_WORKGROUP: &str = include_str!("../../shaders/main_workgroup.wgsl");
/// Entry point building spike words with subgroupBallot (subgroups a multiple of 32 wide; in
/// workgroup memory from narrower ones).
///
/// ```
/// use glifsim::gpu::shaders::{step_source, Variant, MAIN_BALLOT};
/// let src = step_source(glifsim::Model::Lif, Variant { ballot: true, ..Default::default() });
/// assert!(src.contains(MAIN_BALLOT));
/// ```
pub const MAIN_BALLOT: &str = include_str!("../../shaders/main_ballot.wgsl");
/// The wide kernel's entry point building spike words in workgroup memory (any adapter).
///
/// ```
/// use glifsim::gpu::shaders::{wide_source, Variant, WIDE_WORKGROUP};
/// assert!(wide_source(Variant { ballot: false, ..Default::default() }).contains(WIDE_WORKGROUP));
/// ```
pub const WIDE_WORKGROUP: &str = include_str!("../../shaders/wide_workgroup.wgsl");
/// The wide kernel's entry point building spike words with subgroupBallot.
///
/// ```
/// use glifsim::gpu::shaders::{wide_source, Variant, WIDE_BALLOT};
/// assert!(wide_source(Variant { ballot: true, ..Default::default() }).contains(WIDE_BALLOT));
/// ```
pub const WIDE_BALLOT: &str = include_str!("../../shaders/wide_ballot.wgsl");
/// Philox's 32×32→64 multiply from 16-bit halves (any adapter).
///
/// ```
/// use glifsim::gpu::shaders::{step_source, Variant, MULHILO_U32};
/// assert!(step_source(glifsim::Model::Lif, Variant { int64: false, ..Default::default() }).contains(MULHILO_U32));
/// ```
pub const MULHILO_U32: &str = include_str!("../../shaders/mulhilo_u32.wgsl");
/// Philox's 32×32→64 multiply with 64-bit integers (`Features::SHADER_INT64`).
///
/// ```
/// use glifsim::gpu::shaders::{step_source, Variant, MULHILO_U64};
/// assert!(step_source(glifsim::Model::Lif, Variant { int64: true, ..Default::default() }).contains(MULHILO_U64));
/// ```
pub const MULHILO_U64: &str = include_str!("../../shaders/mulhilo_u64.wgsl");
/// The subgroup layout probe.
///
/// ```
/// assert!(glifsim::gpu::shaders::PROBE_SUBGROUPS.contains("subgroup_invocation_id"));
/// ```
pub const PROBE_SUBGROUPS: &str = include_str!("../../shaders/probe_subgroups.wgsl");

/// The dispatch's step range as a uniform at a dynamic offset (any adapter).
///
/// ```
/// use glifsim::gpu::shaders::{step_source, Variant, DISPATCH_UNIFORM};
/// assert!(step_source(glifsim::Model::Lif, Variant { immediates: false, ..Default::default() }).contains(DISPATCH_UNIFORM));
/// ```
pub const DISPATCH_UNIFORM: &str = include_str!("../../shaders/dispatch_uniform.wgsl");
/// The dispatch's step range as immediates (`Features::IMMEDIATES`).
///
/// ```
/// use glifsim::gpu::shaders::{step_source, Variant, DISPATCH_IMMEDIATE};
/// assert!(step_source(glifsim::Model::Lif, Variant { immediates: true, ..Default::default() }).contains(DISPATCH_IMMEDIATE));
/// ```
pub const DISPATCH_IMMEDIATE: &str = include_str!("../../shaders/dispatch_immediate.wgsl");

/// Which variant of a step kernel [`step_source`] and [`wide_source`] assemble. Every variant
/// computes the same bits; they differ in what the adapter must offer.
///
/// ```
/// use glifsim::gpu::shaders::{step_source, Variant};
/// let fast = Variant { ballot: true, int64: true, immediates: true };
/// assert!(step_source(glifsim::Model::Lif, fast).contains("var<immediate> dispatch"));
/// assert!(step_source(glifsim::Model::Lif, Variant::default()).contains("var<uniform> dispatch"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Variant {
    /// Spike words by `subgroupBallot` (main_ballot.wgsl, wide_ballot.wgsl), which needs
    /// `Features::SUBGROUP` and subgroups laid out along the local index (naga gates subgroup
    /// operations by that feature rather than by an `enable` directive), instead of workgroup
    /// atomics.
    pub ballot: bool,
    /// Philox's multiply in 64-bit integers (`Features::SHADER_INT64`) instead of 16-bit
    /// halves.
    pub int64: bool,
    /// The dispatch's step range (`Dispatch`, common.wgsl) as immediates
    /// (`Features::IMMEDIATES`) instead of a uniform at a dynamic offset.
    pub immediates: bool,
}

/// `ballot, immediates, int64` and so on: the three choices in a few words, for logs and
/// benchmark records.
impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {}, {}",
            if self.ballot { "ballot" } else { "atomics" },
            if self.immediates {
                "immediates"
            } else {
                "uniform"
            },
            if self.int64 { "int64" } else { "int32" }
        )
    }
}

/// The full source of the step kernel for `model` (one neuron per invocation): the common
/// prelude, the dispatch's declaration, Philox's multiply, the lane layout, the model's file
/// and an entry point, as `variant` says.
///
/// ```
/// use glifsim::gpu::shaders::{step_source, Variant};
/// let v = Variant { ballot: true, ..Default::default() };
/// let src = step_source(glifsim::Model::Lif, v);
/// assert!(src.contains("fn update_neuron") && src.contains("subgroupBallot"));
/// ```
pub fn step_source(model: crate::Model, variant: Variant) -> String {
    assemble_step(model, variant, embedded).expect("embedded sources")
}

/// The full source of the wide step kernel (four neurons per invocation; any model with K ≤ 1
/// and J ≤ 2, see [`crate::gpu::GpuOptions::wide`]); `variant` as for [`step_source`].
///
/// ```
/// let src = glifsim::gpu::shaders::wide_source(Default::default());
/// assert!(src.contains("fn wide_update") && !src.contains("subgroupBallot("));
/// ```
pub fn wide_source(variant: Variant) -> String {
    assemble_wide(variant, embedded).expect("embedded sources")
}

/// [`step_source`] with each file that `dir` holds (`dir/<name>.wgsl`) in place of the
/// embedded one: what `GLIFSIM_SHADER_DIR=dir` makes the engine compile. An unreadable file
/// is an error.
///
/// ```
/// let dir = std::env::temp_dir().join("glifsim-doc-step-source-in");
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("lif.wgsl"), "// my LIF\n")?;
/// let src = glifsim::gpu::shaders::step_source_in(&dir, glifsim::Model::Lif, Default::default())?;
/// assert!(src.contains("// my LIF") && src.contains("fn philox"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn step_source_in(dir: &Path, model: crate::Model, variant: Variant) -> Result<String> {
    assemble_step(model, variant, |name, text| file_in(dir, name, text))
}

/// [`wide_source`] with each file that `dir` holds in place of the embedded one (see
/// [`step_source_in`]).
///
/// ```
/// use glifsim::gpu::shaders::{wide_source, wide_source_in};
/// // A directory without any of the files: the embedded sources.
/// let dir = tempfile::tempdir()?;
/// assert_eq!(wide_source_in(dir.path(), Default::default())?, wide_source(Default::default()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn wide_source_in(dir: &Path, variant: Variant) -> Result<String> {
    assemble_wide(variant, |name, text| file_in(dir, name, text))
}

/// [`step_source`], each file replaced by `GLIFSIM_SHADER_DIR`'s copy where it has one (see
/// the module docs). What the engine compiles.
pub(crate) fn step_source_runtime(model: crate::Model, variant: Variant) -> Result<String> {
    match shader_dir() {
        Some(dir) => step_source_in(&dir, model, variant),
        None => Ok(step_source(model, variant)),
    }
}

/// [`wide_source`], each file replaced by `GLIFSIM_SHADER_DIR`'s copy where it has one.
pub(crate) fn wide_source_runtime(variant: Variant) -> Result<String> {
    match shader_dir() {
        Some(dir) => wide_source_in(&dir, variant),
        None => Ok(wide_source(variant)),
    }
}

/// `GLIFSIM_SHADER_DIR`, where it is set and not empty.
fn shader_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("GLIFSIM_SHADER_DIR")
        .filter(|d| !d.is_empty())
        .map(Into::into)
}

/// A shader file: its name in `shaders/` (without `.wgsl`) and its embedded text.
type Part = (&'static str, &'static str);

/// `a` where `cond`, else `b`.
fn either(cond: bool, a: Part, b: Part) -> Part {
    if cond {
        a
    } else {
        b
    }
}

/// The files every step kernel shares, in order: the prelude, the dispatch's declaration and
/// Philox's multiply.
fn shared_parts(v: Variant) -> [Part; 3] {
    let dispatch = either(
        v.immediates,
        ("dispatch_immediate", DISPATCH_IMMEDIATE),
        ("dispatch_uniform", DISPATCH_UNIFORM),
    );
    let mul = either(
        v.int64,
        ("mulhilo_u64", MULHILO_U64),
        ("mulhilo_u32", MULHILO_U32),
    );
    [("common", COMMON), dispatch, mul]
}

fn assemble_step(
    model: crate::Model,
    v: Variant,
    file: impl Fn(&str, &'static str) -> Result<Cow<'static, str>>,
) -> Result<String> {
    let body = either(model.has_asc(), ("glif", GLIF), ("lif", LIF));
    let main = either(
        v.ballot,
        ("main_ballot", MAIN_BALLOT),
        ("main_workgroup", MAIN_WORKGROUP),
    );
    let [common, dispatch, mul] = shared_parts(v);
    join(&[common, dispatch, mul, ("lane", LANE), body, main], file)
}

fn assemble_wide(
    v: Variant,
    file: impl Fn(&str, &'static str) -> Result<Cow<'static, str>>,
) -> Result<String> {
    let main = either(
        v.ballot,
        ("wide_ballot", WIDE_BALLOT),
        ("wide_workgroup", WIDE_WORKGROUP),
    );
    let [common, dispatch, mul] = shared_parts(v);
    join(&[common, dispatch, mul, ("wide", WIDE), main], file)
}

fn join(
    parts: &[Part],
    file: impl Fn(&str, &'static str) -> Result<Cow<'static, str>>,
) -> Result<String> {
    let texts = parts
        .iter()
        .map(|&(name, text)| file(name, text))
        .collect::<Result<Vec<_>>>()?;
    Ok(texts.join("\n"))
}

/// The embedded text of a shader file (the sources without `GLIFSIM_SHADER_DIR`).
fn embedded(_name: &str, text: &'static str) -> Result<Cow<'static, str>> {
    Ok(Cow::Borrowed(text))
}

/// `dir/<name>.wgsl` where it exists, else `embedded`.
fn file_in(dir: &Path, name: &str, embedded: &'static str) -> Result<Cow<'static, str>> {
    let path = dir.join(format!("{name}.wgsl"));
    if !path.exists() {
        return Ok(Cow::Borrowed(embedded));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Usage(format!(
            "GLIFSIM_SHADER_DIR: cannot read {}: {e}",
            path.display()
        ))
    })?;
    log::warn!(
        "GLIFSIM_SHADER_DIR: {name}.wgsl from {} instead of the built-in copy",
        path.display()
    );
    Ok(Cow::Owned(text))
}

/// The bandwidth reference kernel of `glifsim bench`.
///
/// ```
/// let module = naga::front::wgsl::parse_str(glifsim::gpu::shaders::REFERENCE_AXPY).unwrap();
/// assert!(module.entry_points.iter().any(|e| e.name == "main"));
/// ```
pub const REFERENCE_AXPY: &str = include_str!("../../shaders/reference_axpy.wgsl");
/// The bandwidth reference kernel with 16-byte accesses (`glifsim bench`).
///
/// ```
/// let module = naga::front::wgsl::parse_str(glifsim::gpu::shaders::REFERENCE_AXPY4).unwrap();
/// assert!(module.entry_points.iter().any(|e| e.name == "main"));
/// ```
pub const REFERENCE_AXPY4: &str = include_str!("../../shaders/reference_axpy4.wgsl");
/// The copy-bandwidth kernel of `glifsim bench`.
///
/// ```
/// let module = naga::front::wgsl::parse_str(glifsim::gpu::shaders::REFERENCE_COPY).unwrap();
/// assert_eq!(module.entry_points.len(), 1);
/// ```
pub const REFERENCE_COPY: &str = include_str!("../../shaders/reference_copy.wgsl");

/// Every shader file with its name, for validation and checks.
///
/// ```
/// let names: Vec<&str> = glifsim::gpu::shaders::ALL.iter().map(|(n, _)| *n).collect();
/// // Each is a file in shaders/.
/// for n in &names {
///     let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("shaders/{n}.wgsl"));
///     assert!(path.exists(), "{}", path.display());
/// }
/// ```
pub const ALL: &[(&str, &str)] = &[
    ("common", COMMON),
    ("lane", LANE),
    ("wide", WIDE),
    ("wide_workgroup", WIDE_WORKGROUP),
    ("wide_ballot", WIDE_BALLOT),
    ("lif", LIF),
    ("glif", GLIF),
    ("main_workgroup", MAIN_WORKGROUP),
    ("main_ballot", MAIN_BALLOT),
    ("mulhilo_u32", MULHILO_U32),
    ("mulhilo_u64", MULHILO_U64),
    ("dispatch_uniform", DISPATCH_UNIFORM),
    ("dispatch_immediate", DISPATCH_IMMEDIATE),
    ("calibrate", CALIBRATE),
    ("probe_subgroups", PROBE_SUBGROUPS),
    ("reference_axpy", REFERENCE_AXPY),
    ("reference_axpy4", REFERENCE_AXPY4),
    ("reference_copy", REFERENCE_COPY),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shader_dir_replaces_only_the_files_it_has() {
        let dir = std::env::temp_dir().join(format!("glifsim-shader-dir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("wide.wgsl"), "// replaced\n").unwrap();
        let from = |name: &str, text: &'static str| file_in(&dir, name, text);
        let ballot = Variant {
            ballot: true,
            ..Default::default()
        };
        let src = assemble_wide(ballot, from).unwrap();
        assert!(src.contains("// replaced") && !src.contains("fn wide_update"));
        assert!(src.contains("fn philox") && src.contains("subgroupBallot"));
        // A file that exists but is not text is an error, not a silent fallback.
        std::fs::write(dir.join("common.wgsl"), [0xffu8, 0xfe, 0x00]).unwrap();
        let err = assemble_wide(ballot, from).unwrap_err().to_string();
        assert!(
            err.contains("GLIFSIM_SHADER_DIR") && err.contains("common.wgsl"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_a_shader_dir_the_sources_are_the_embedded_ones() {
        let v = Variant {
            int64: true,
            immediates: true,
            ..Default::default()
        };
        let src = assemble_step(crate::Model::Glif5, v, embedded).unwrap();
        let parts = [
            COMMON,
            DISPATCH_IMMEDIATE,
            MULHILO_U64,
            LANE,
            GLIF,
            MAIN_WORKGROUP,
        ];
        assert_eq!(src, parts.join("\n"));
    }
}
