//! The fuzz corpora replayed on the stable toolchain as ordinary tests: every input under
//! `fuzz/corpus/<target>/` (the committed seeds, and crashes fixed since), and under
//! `fuzz/artifacts/<target>/` when a fuzzing run left any there, goes through the same entry
//! point of `pigeonpost::fuzzing` as its fuzz target, so a crash found once stays fixed.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use pigeonpost::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files directly in `dir`, in name order; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.map(|e| e.expect("a readable corpus entry").path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_seed_corpus_and_a_fuzz_target_and_nothing_else_does() {
    for target in TARGETS {
        let corpus = fuzz_dir().join("corpus").join(target.name);
        assert!(!inputs(&corpus).is_empty(), "{} holds no seed inputs", corpus.display());
        let source = fuzz_dir().join("fuzz_targets").join(format!("{}.rs", target.name));
        let code = std::fs::read_to_string(&source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(
            code.contains(&format!("pigeonpost::fuzzing::{}(", target.name)),
            "{} does not call pigeonpost::fuzzing::{}",
            source.display(),
            target.name
        );
    }
    for folder in ["corpus", "fuzz_targets"] {
        let entries = std::fs::read_dir(fuzz_dir().join(folder)).expect("the fuzz folder");
        for path in entries.map(|e| e.expect("a readable entry").path()) {
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            assert!(
                TARGETS.iter().any(|t| t.name == name),
                "{} belongs to no target in pigeonpost::fuzzing::TARGETS",
                path.display()
            );
        }
    }
}

#[test]
fn every_corpus_input_goes_through_its_target_without_a_panic() {
    let mut replayed = 0;
    let mut panicked = Vec::new();
    for target in TARGETS {
        let dirs = [fuzz_dir().join("corpus").join(target.name), fuzz_dir().join("artifacts").join(target.name)];
        for file in dirs.iter().flat_map(|d| inputs(d)) {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&data))).is_err() {
                panicked.push(file.display().to_string());
            }
            replayed += 1;
        }
    }
    assert!(panicked.is_empty(), "these inputs panic their target (the message is above):\n{}", panicked.join("\n"));
    assert!(replayed >= TARGETS.len(), "only {replayed} inputs were replayed");
}
