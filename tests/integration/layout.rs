//! The integration tests stay one binary: each file directly under `tests/` would be a test
//! binary of its own, linking the whole dependency tree again.

use std::path::Path;

#[test]
fn every_integration_test_is_a_module_of_the_one_binary() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut binaries: Vec<String> = std::fs::read_dir(&tests)
        .expect("read tests/")
        .map(|entry| entry.expect("an entry of tests/").path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "rs"))
        .filter_map(|path| path.file_name().map(|name| format!("tests/{}", name.to_string_lossy())))
        .collect();
    binaries.sort();
    assert!(
        binaries.is_empty(),
        "make these modules of tests/integration/main.rs instead of test binaries of their own: {binaries:?}"
    );
    let main = std::fs::read_to_string(tests.join("integration/main.rs")).expect("read tests/integration/main.rs");
    for entry in std::fs::read_dir(tests.join("integration")).expect("read tests/integration/") {
        let path = entry.expect("an entry of tests/integration/").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        if stem != "main" && path.extension().is_some_and(|ext| ext == "rs") {
            assert!(
                main.contains(&format!("\nmod {stem};\n")),
                "tests/integration/{stem}.rs is not declared in main.rs, so it never runs"
            );
        }
    }
}
