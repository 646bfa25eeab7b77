//! The spec-file parser: any text must parse or fail with an error, never panic. Specs that
//! name NPY files are parsed but not prepared (preparing reads the named files).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(spec) = glifsim::spec::Spec::parse(text, std::path::Path::new("fuzz.toml")) {
        let _ = spec.steps();
        if !text.contains("npy") {
            let _ = spec.prepare();
        }
    }
});
