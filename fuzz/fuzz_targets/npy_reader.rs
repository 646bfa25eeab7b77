//! The NPY reader used for parameter and input files.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = glifsim::spec::parse_npy_f64(data, std::path::Path::new("fuzz.npy"));
});
