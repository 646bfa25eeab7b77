//! Every WGSL shader parses and passes naga's validator (no GPU needed).

use glifsim::gpu::shaders;
use glifsim::Model;

fn validate(name: &str, src: &str) {
    let module = naga::front::wgsl::parse_str(src).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
}

#[test]
fn every_shader_validates() {
    for model in [Model::Lif, Model::Alif] {
        validate(model.name(), &shaders::step_source(model));
    }
    validate("calibrate", shaders::CALIBRATE);
    validate("reference_axpy", shaders::REFERENCE_AXPY);
}

#[test]
fn every_shader_file_is_used() {
    // A shader file that is not embedded would go unvalidated.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let embedded = [shaders::COMMON, shaders::LIF, shaders::ADAPTIVE, shaders::CALIBRATE, shaders::REFERENCE_AXPY];
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(embedded.contains(&text.as_str()), "shader file not embedded and validated");
    }
}

#[test]
fn no_exp_in_any_shader() {
    for src in [shaders::COMMON, shaders::LIF, shaders::ADAPTIVE, shaders::CALIBRATE, shaders::REFERENCE_AXPY] {
        assert!(!src.contains("exp("), "shaders must not evaluate exp(): factors come from the host");
    }
}
