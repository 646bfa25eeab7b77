//! Every WGSL shader parses and passes naga's validator, and every step-kernel variant
//! translates through naga, with its pipeline constants set, to SPIR-V, MSL and HLSL: what
//! wgpu does on Vulkan, Metal and DX12 (no GPU needed).

use glifsim::gpu::shaders;
use glifsim::Model;

/// Parse `src` and run naga's validator on it (with all checks), returning the module, its
/// validation info and the capabilities the source needs.
fn validate(
    name: &str,
    src: &str,
) -> (
    naga::Module,
    naga::valid::ModuleInfo,
    naga::valid::Capabilities,
) {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    let mut caps = naga::valid::Capabilities::empty();
    if src.contains("subgroup") {
        caps |= naga::valid::Capabilities::SUBGROUP;
    }
    if src.contains("u64") {
        caps |= naga::valid::Capabilities::SHADER_INT64;
    }
    if src.contains("var<immediate>") {
        caps |= naga::valid::Capabilities::IMMEDIATES;
    }
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    (module, info, caps)
}

/// Set the pipeline constants `consts` (those the module declares) and translate the module to
/// SPIR-V 1.3, MSL 2.4 and HLSL (shader model 6.0), as wgpu's Vulkan, Metal and DX12 back ends
/// do when they create the pipeline; a naga back-end failure (an error or a panic) would
/// otherwise surface only on such a device. A variant whose capabilities (subgroups, 64-bit
/// integers) a back end lacks is skipped there: wgpu does not offer those features on it, so
/// glifsim never builds that variant there.
fn translate(
    name: &str,
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    caps: naga::valid::Capabilities,
    consts: &[(&str, f64)],
) {
    let declared: Vec<String> = module
        .overrides
        .iter()
        .filter_map(|(_, o)| o.name.clone())
        .collect();
    let constants: naga::back::PipelineConstants = consts
        .iter()
        .filter(|(k, _)| declared.iter().any(|d| d == k))
        .map(|&(k, v)| (k.to_string(), v))
        .collect();
    let (module, info) = naga::back::pipeline_constants::process_overrides(
        module,
        info,
        Some((naga::ShaderStage::Compute, "main")),
        &constants,
    )
    .unwrap_or_else(|e| panic!("{name} {consts:?}: {e}"));
    let options = naga::back::spv::Options {
        lang_version: (1, 3),
        ..Default::default()
    };
    let pipeline = naga::back::spv::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: "main".into(),
    };
    let words = naga::back::spv::write_vec(&module, &info, &options, Some(&pipeline))
        .unwrap_or_else(|e| panic!("{name} {consts:?}: SPIR-V: {e}"));
    assert_eq!(words[0], 0x0723_0203, "{name}: not a SPIR-V module");

    let entry = Some((naga::ShaderStage::Compute, "main".to_string()));
    if naga::back::msl::supported_capabilities().contains(caps) {
        let options = naga::back::msl::Options {
            lang_version: (2, 4),
            ..Default::default()
        };
        let pipeline = naga::back::msl::PipelineOptions {
            entry_point: entry.clone(),
            ..Default::default()
        };
        let (msl, _) = naga::back::msl::write_string(&module, &info, &options, &pipeline)
            .unwrap_or_else(|e| panic!("{name} {consts:?}: MSL: {e}"));
        assert!(msl.contains("kernel void"), "{name}: no MSL kernel");
    }
    if naga::back::hlsl::supported_capabilities().contains(caps) {
        let options = naga::back::hlsl::Options {
            shader_model: naga::back::hlsl::ShaderModel::V6_0,
            // Where wgpu's DX12 back end puts immediates: root constants (the register is
            // the root signature's business, any serves for the translation).
            immediates_target: Some(naga::back::hlsl::BindTarget {
                space: 0,
                register: 0,
                ..Default::default()
            }),
            ..Default::default()
        };
        let pipeline = naga::back::hlsl::PipelineOptions { entry_point: entry };
        let mut hlsl = String::new();
        naga::back::hlsl::Writer::new(&mut hlsl, &options, &pipeline)
            .write(&module, &info, None)
            .unwrap_or_else(|e| panic!("{name} {consts:?}: HLSL: {e}"));
        assert!(hlsl.contains("[numthreads("), "{name}: no HLSL kernel");
    }
}

/// Validate the kernel `source(variant)` in its eight variants (spike words by ballot or
/// workgroup atomics, Philox's multiply in 64-bit or 32-bit integers, the dispatch's step range
/// as immediates or a uniform) and translate each with every constant set.
fn every_variant(
    kernel: &str,
    sets: &[&[(&str, f64)]],
    source: impl Fn(shaders::Variant) -> String,
) {
    for ballot in [false, true] {
        for int64 in [false, true] {
            for immediates in [false, true] {
                let v = shaders::Variant {
                    ballot,
                    int64,
                    immediates,
                };
                let name = format!("{kernel} {v:?}");
                let (module, info, caps) = validate(&name, &source(v));
                for consts in sets {
                    translate(&name, &module, &info, caps, consts);
                }
            }
        }
    }
}

/// The largest shape the wide kernel serves (one θ component, two after-spike currents, θ_v,
/// the GLIF2 reset) with every input kind, per-neuron parameters and the noise cache.
const WIDE_LARGEST: &[(&str, f64)] = &[
    ("K", 1.0),
    ("J", 2.0),
    ("NC", 4.0),
    ("THETA_V", 1.0),
    ("GLIF2", 1.0),
    ("NOISE", 1.0),
    ("NOISE_CACHE", 1.0),
    ("HAS_SCHED", 1.0),
    ("HOST_INPUT", 1.0),
    ("PN_MASK", 1023.0),
    ("STRIDE", 1000.0),
    ("PARAM_BASE", 24.0),
];

#[test]
fn every_shader_validates_and_translates_for_vulkan_metal_and_dx12() {
    // The defaults (LIF, several trials), and constants that unroll every loop of the kernels
    // and take every branch: K and J components, θ_v, the GLIF2 reset, noise, a schedule, host
    // input, per-neuron parameters, the noise cache; and one trial with noise, one step per
    // dispatch.
    // The many-branch set is the wide kernel's largest shape with a second θ component (K = 2,
    // so NC = 5), which only the lane kernel serves.
    let lane_largest: Vec<(&str, f64)> = WIDE_LARGEST
        .iter()
        .map(|&(name, value)| match name {
            "K" => (name, 2.0),
            "NC" => (name, 5.0),
            _ => (name, value),
        })
        .collect();
    let sets: [&[(&str, f64)]; 3] = [
        &[],
        &lane_largest,
        &[("ONE_TRIAL", 1.0), ("NOISE", 1.0), ("ONE_STEP", 1.0)],
    ];
    for model in [Model::Lif, Model::Alif, Model::Glif5] {
        every_variant(&model.to_string(), &sets, |v| {
            shaders::step_source(model, v)
        });
    }
    // The wide kernel (K ≤ 1, J ≤ 2): its defaults, the largest shape it serves (one θ
    // component, two after-spike currents, θ_v, the GLIF2 reset) with every input kind,
    // per-neuron parameters and the noise cache, and one trial with noise, one step per
    // dispatch.
    let wide_sets: [&[(&str, f64)]; 3] = [
        &[],
        WIDE_LARGEST,
        &[
            ("ONE_TRIAL", 1.0),
            ("HOST_INPUT", 1.0),
            ("NOISE", 1.0),
            ("ONE_STEP", 1.0),
        ],
    ];
    every_variant("wide", &wide_sets, shaders::wide_source);
    // The helper kernels glifsim builds at run time (no pipeline constants).
    for (name, src) in [
        ("probe_subgroups", shaders::PROBE_SUBGROUPS),
        ("calibrate", shaders::CALIBRATE),
        ("reference_axpy", shaders::REFERENCE_AXPY),
        ("reference_axpy4", shaders::REFERENCE_AXPY4),
        ("reference_copy", shaders::REFERENCE_COPY),
    ] {
        let (module, info, caps) = validate(name, src);
        translate(name, &module, &info, caps, &[]);
    }
}

#[test]
fn every_shader_file_is_used() {
    // A shader file that is not embedded would go unvalidated.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        files.len(),
        shaders::ALL.len(),
        "shaders/ and shaders::ALL list different files"
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            shaders::ALL.iter().any(|(_, s)| *s == text),
            "{} is not embedded",
            path.display()
        );
    }
}

#[test]
fn no_exp_in_any_shader() {
    for (name, src) in shaders::ALL {
        assert!(
            !src.contains("exp("),
            "{name}: shaders must not evaluate exp(): factors come from the host"
        );
    }
}

/// The shaders are compiled without wgpu's loop bounding (`GpuContext::shader`), which is sound
/// only if every loop ends: each must be `for (var i = A; i < B; i++)` where nothing in the
/// body assigns `i`, and there are no `loop` or `while` statements.
#[test]
fn every_loop_is_counted() {
    for (name, src) in shaders::ALL {
        let code: Vec<&str> = src.lines().map(|l| l.split("//").next().unwrap()).collect();
        for (i, line) in code.iter().enumerate() {
            let words: Vec<&str> = line
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .collect();
            assert!(
                !words.contains(&"loop") && !words.contains(&"while"),
                "{name}:{}: uncounted loop: {line}",
                i + 1
            );
            let Some(at) = line.find("for (") else {
                continue;
            };
            let header = &line[at + 5..line[at..].find(')').map_or(line.len(), |e| at + e)];
            let parts: Vec<&str> = header.split(';').map(str::trim).collect();
            assert_eq!(parts.len(), 3, "{name}:{}: {line}", i + 1);
            let var = parts[0]
                .strip_prefix("var ")
                .and_then(|r| r.split('=').next())
                .map(str::trim)
                .unwrap_or_else(|| panic!("{name}:{}: {line}", i + 1));
            assert!(
                parts[1].starts_with(&format!("{var} < ")) && parts[2] == format!("{var}++"),
                "{name}:{}: not a counted loop: {line}",
                i + 1
            );
            // The body: up to the brace that closes the one opened on this line.
            let mut depth = 0i32;
            for (j, body) in code.iter().enumerate().skip(i) {
                let text = if j == i { &body[at..] } else { body };
                if j > i {
                    let assigned = [" = ", " += ", " -= ", "++", "--"].iter().any(|op| {
                        assigns(text, var, op) || assigns(text, var, &format!(" {}", op.trim()))
                    });
                    let declared = text.contains(&format!("var {var} "))
                        || text.contains(&format!("let {var} "));
                    assert!(
                        !assigned || declared,
                        "{name}:{}: the counter {var} is changed in the body: {text}",
                        j + 1
                    );
                }
                depth += text.matches('{').count() as i32 - text.matches('}').count() as i32;
                if depth == 0 && j > i {
                    break;
                }
            }
        }
    }
}

/// Whether `text` has `var` as a whole identifier followed by `op` (`host = ` does not assign
/// `t`).
fn assigns(text: &str, var: &str, op: &str) -> bool {
    let pat = format!("{var}{op}");
    text.match_indices(&pat).any(|(at, _)| {
        !text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// The step kernels bind exactly the storage buffers `GpuContext` checks an adapter allows
/// (`STORAGE_BUFFERS_NEEDED`), so that an adapter with fewer is refused with a message at
/// device creation rather than failing at pipeline creation.
#[test]
fn step_kernels_bind_the_storage_buffers_the_context_checks_for() {
    for model in [Some(Model::Lif), Some(Model::Glif5), None] {
        for ballot in [false, true] {
            // None: the wide kernel, which binds the same buffers (V and the input as vectors).
            let v = shaders::Variant {
                ballot,
                ..Default::default()
            };
            let src = match model {
                Some(m) => shaders::step_source(m, v),
                None => shaders::wide_source(v),
            };
            let module = naga::front::wgsl::parse_str(&src).unwrap();
            let storage = module
                .global_variables
                .iter()
                .filter(|(_, g)| matches!(g.space, naga::AddressSpace::Storage { .. }))
                .count();
            assert_eq!(
                storage as u32,
                glifsim::gpu::STORAGE_BUFFERS_NEEDED,
                "{model:?} ballot={ballot}"
            );
        }
    }
}

/// `scripts/kernel_variants.py` (the kernel experiments `scripts/variants_check.sh` times on a
/// GPU) still applies to the current shaders, and every variant it writes, exact or ablation,
/// assembles with the files it replaces and passes naga's validator in each entry point and
/// translates with the constants of the wide kernel's largest shape (`WIDE_LARGEST`): so that a
/// change to the kernels cannot leave the experiments broken until a lent GPU finds out.
/// Needs python3 (`.ci/run` installs it); without it the test says so and checks nothing.
#[test]
fn kernel_variants_apply_and_validate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("glifsim-kernel-variants-{}", std::process::id()));
    let run = std::process::Command::new("python3")
        .arg(root.join("scripts/kernel_variants.py"))
        .arg(&out)
        .output();
    let run = match run {
        Ok(r) => r,
        Err(e) => {
            eprintln!("python3 is not available ({e}): scripts/kernel_variants.py not checked");
            return;
        }
    };
    assert!(
        run.status.success(),
        "kernel_variants.py failed (a patch no longer applies?):\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let mut seen = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let what = std::fs::read_to_string(dir.join("WHAT")).unwrap();
        assert!(
            what.starts_with("exact: ") || what.starts_with("ablation: "),
            "{name}: {what}"
        );
        for ballot in [false, true] {
            let v = shaders::Variant {
                ballot,
                int64: true,
                immediates: true,
            };
            let label = format!("variant {name} ({v:?})");
            let wide = shaders::wide_source_in(&dir, v).unwrap();
            let (module, info, caps) = validate(&label, &wide);
            translate(&label, &module, &info, caps, WIDE_LARGEST);
            let lane = shaders::step_source_in(&dir, Model::Glif5, v).unwrap();
            let _ = validate(&format!("{label}, lane"), &lane);
        }
        seen += 1;
    }
    std::fs::remove_dir_all(&out).unwrap();
    assert!(seen >= 5, "kernel_variants.py wrote only {seen} variants");
}
