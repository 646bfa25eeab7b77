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
    validate("reference_copy", shaders::REFERENCE_COPY);
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
