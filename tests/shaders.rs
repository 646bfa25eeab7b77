//! Every WGSL shader parses and passes naga's validator (no GPU needed).

use glifsim::gpu::shaders;
use glifsim::Model;

fn validate(name: &str, src: &str) {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    let mut caps = naga::valid::Capabilities::empty();
    if src.contains("subgroup") {
        caps |= naga::valid::Capabilities::SUBGROUP;
    }
    if src.contains("u64") {
        caps |= naga::valid::Capabilities::SHADER_INT64;
    }
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
}

#[test]
fn every_shader_validates() {
    for model in [Model::Lif, Model::Alif, Model::Glif5] {
        for ballot in [false, true] {
            for int64 in [false, true] {
                let src = shaders::step_source(model, ballot, int64);
                validate(&format!("{model} ballot={ballot} int64={int64}"), &src);
            }
        }
    }
    validate("probe_subgroups", shaders::PROBE_SUBGROUPS);
    validate("calibrate", shaders::CALIBRATE);
    validate("reference_axpy", shaders::REFERENCE_AXPY);
}

#[test]
fn every_shader_file_is_used() {
    // A shader file that is not embedded would go unvalidated.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let embedded = [
        shaders::COMMON,
        shaders::LIF,
        shaders::ADAPTIVE,
        shaders::GLIF,
        shaders::CALIBRATE,
        shaders::REFERENCE_AXPY,
        shaders::MAIN_WORKGROUP,
        shaders::MAIN_BALLOT,
        shaders::PROBE_SUBGROUPS,
        shaders::MULHILO_U32,
        shaders::MULHILO_U64,
    ];
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(
            embedded.contains(&text.as_str()),
            "shader file not embedded and validated"
        );
    }
}

#[test]
fn no_exp_in_any_shader() {
    for src in [
        shaders::COMMON,
        shaders::LIF,
        shaders::ADAPTIVE,
        shaders::GLIF,
        shaders::CALIBRATE,
        shaders::REFERENCE_AXPY,
        shaders::MAIN_WORKGROUP,
        shaders::MAIN_BALLOT,
        shaders::PROBE_SUBGROUPS,
        shaders::MULHILO_U32,
        shaders::MULHILO_U64,
    ] {
        assert!(
            !src.contains("exp("),
            "shaders must not evaluate exp(): factors come from the host"
        );
    }
}
