//! Inputs the fuzzer once broke, kept as tests (the same checks as `fuzz/fuzz_targets/redact.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

#[test]
fn fuzz_regressions() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let once = cordon_card::redact(&text);
        for f in &once.findings {
            assert!(
                text.is_char_boundary(f.start) && text.is_char_boundary(f.end),
                "{path:?}"
            );
        }
        let twice = cordon_card::redact(&once.text);
        assert_eq!(twice.text, once.text, "{path:?}: not idempotent");
    }
}
