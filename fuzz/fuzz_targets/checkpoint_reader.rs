//! The checkpoint reader, twice: the bytes as given (mostly rejected by the checksum), and the
//! bytes with a valid checksum appended, so the fuzzer reaches the header, metadata and arrays.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.glifsim");
    let _ = glifsim::checkpoint::Checkpoint::from_bytes(data, path);
    let mut with_crc = data.to_vec();
    with_crc.extend_from_slice(&crc32(data).to_le_bytes());
    if let Ok(ck) = glifsim::checkpoint::Checkpoint::from_bytes(&with_crc, path) {
        // What parses serialises to a checkpoint that parses back to the same bytes (the
        // metadata is JSON, so the first serialisation may normalise its text).
        let once = ck.to_bytes();
        let again = glifsim::checkpoint::Checkpoint::from_bytes(&once, path)
            .expect("a serialised checkpoint parses")
            .to_bytes();
        assert_eq!(once, again);
    }
});

/// CRC-32 (IEEE), as the checkpoint format uses.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
