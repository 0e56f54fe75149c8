//! Imports point one way: from the edges (the command line, HTTP, workers) through the use
//! cases and the policy to the store, the audit trail and, at the bottom, the domain and the
//! crypto. This test reads every path to `crate::…` in `src/` and fails on one that points up.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// Top to bottom. A module may use the modules of any layer below its own, and none of its
/// own layer or above.
const LAYERS: &[&[&str]] = &[
    // The commands, and the entry points the fuzz targets share, which reach into every reader.
    &["cli", "fuzzing"],
    // The pages, which answer through the same HTTP plumbing as the API.
    &["web"],
    // The process's edges: requests, background jobs, and where logs go.
    &["http", "workers", "telemetry"],
    // Use cases, and the composition root (`service::startup`) that builds their state.
    &["service"],
    &["policy"],
    &["store"],
    &["audit"],
    // Settings and counters, which anything above may read.
    &["config", "metrics"],
    &["domain"],
    // What the domain's records hold sealed, and the rules of passwords, tokens and second
    // factors: no imports of ours at all.
    &["crypto", "identity"],
];

/// Files in `src/` that belong to no layer: the crate's roots, and this test, whose examples
/// name paths that are not imports.
const UNLAYERED: &[&str] = &["lib.rs", "main.rs", "layering.rs"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// One path to another top-level module, where it is written.
#[derive(Debug, PartialEq, Eq)]
struct Import {
    line: usize,
    module: String,
}

#[derive(Debug)]
struct Breach {
    file: PathBuf,
    line: usize,
    from: String,
    to: String,
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = format!("{}:{}: {} uses {}", self.file.display(), self.line, self.from, self.to);
        match (layer_of(&self.from), layer_of(&self.to)) {
            (None, _) => write!(f, "{at}, but {} is in no layer: add it to LAYERS in src/layering.rs", self.from),
            (_, None) => write!(f, "{at}, but {} is in no layer: add it to LAYERS in src/layering.rs", self.to),
            (Some(a), Some(b)) if a == b => {
                write!(
                    f,
                    "{at}, but the two are in the same layer ({}) and neither may use the other",
                    LAYERS[a].join(", ")
                )
            }
            (Some(a), Some(_)) => {
                let below: Vec<&str> = LAYERS[a + 1..].iter().flat_map(|l| l.iter().copied()).collect();
                write!(f, "{at}, which is above it: {} may use only {}", self.from, below.join(", "))
            }
        }
    }
}

/// The code with comments, strings and character literals blanked out (newlines kept, so
/// positions keep their line numbers).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        if rest.starts_with(&['/', '/']) {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if rest.starts_with(&['/', '*']) {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i..].starts_with(&['/', '*']) {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i..].starts_with(&['*', '/']) {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(rest) {
            let close: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            let opening = hashes + 2 + usize::from(rest[0] == 'b');
            for &c in &rest[..opening] {
                blank(&mut out, c);
            }
            i += opening;
            while i < chars.len() && !chars[i..].starts_with(&close) {
                blank(&mut out, chars[i]);
                i += 1;
            }
            for _ in 0..close.len().min(chars.len() - i) {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if chars[i] == '"' {
            blank(&mut out, '"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
            if i < chars.len() {
                blank(&mut out, '"');
                i += 1;
            }
        } else if chars[i] == '\'' && (rest.get(1) == Some(&'\\') || rest.get(2) == Some(&'\'')) {
            // A character literal ('"', '\''), not a lifetime.
            let end = (i + 1..chars.len())
                .find(|&j| chars[j] == '\'' && (chars[j - 1] != '\\' || chars[j - 2] == '\\'))
                .unwrap_or(chars.len() - 1);
            for &c in &chars[i..=end] {
                blank(&mut out, c);
            }
            i = end + 1;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// How many `#` a raw string starting here has (`r"`, `r#"`, `br#"`), if one starts here.
fn raw_string_start(rest: &[char]) -> Option<usize> {
    let after_prefix = match rest {
        ['b', 'r', ..] => &rest[2..],
        ['r', ..] => &rest[1..],
        _ => return None,
    };
    let hashes = after_prefix.iter().take_while(|&&c| c == '#').count();
    (after_prefix.get(hashes) == Some(&'"')).then_some(hashes)
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The path of modules a file is, under `src/`: `store/meta/mod.rs` is `store::meta`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" {
            parts.push(stem.to_owned());
        }
    }
    parts
}

/// Every top-level module that the code names through `crate::`, `$crate::` or enough
/// `super::` to climb out of its own top-level module (counting inline `mod x { … }` blocks):
/// in `use` lines (groups and nested groups, over several lines) and in paths written inline.
fn imports(module: &[String], source: &str) -> Vec<Import> {
    let code = code_only(source);
    let chars: Vec<char> = code.chars().collect();
    let line_at = |pos: usize| chars[..pos].iter().filter(|&&c| c == '\n').count() + 1;
    let mut found = Vec::new();
    // The brace depth inside each inline module we are in.
    let mut inline_modules: Vec<usize> = Vec::new();
    let mut braces = 0;
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !is_ident(chars[i - 1]);
        let rest = &chars[i..];
        let root_len = if !starts_word {
            None
        } else if rest.starts_with(&['c', 'r', 'a', 't', 'e', ':', ':']) {
            Some(7)
        } else if rest.starts_with(&['s', 'u', 'p', 'e', 'r', ':', ':']) {
            climbs_out(module.len() + inline_modules.len(), rest)
        } else {
            None
        };
        if let Some(len) = root_len {
            i += len;
            for (pos, name) in first_segments(&chars, i) {
                found.push(Import { line: line_at(pos), module: name });
            }
            continue;
        }
        if starts_word && opens_inline_module(rest) {
            inline_modules.push(braces + 1);
        }
        match chars[i] {
            '{' => braces += 1,
            '}' => {
                if inline_modules.last() == Some(&braces) {
                    inline_modules.pop();
                }
                braces -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// Whether `mod name {` starts here.
fn opens_inline_module(rest: &[char]) -> bool {
    let Some(after) = rest.strip_prefix(&['m', 'o', 'd']) else { return false };
    let gap = after.iter().take_while(|c| c.is_whitespace()).count();
    let name = after[gap..].iter().take_while(|&&c| is_ident(c)).count();
    let tail = &after[gap + name..];
    let gap_after = tail.iter().take_while(|c| c.is_whitespace()).count();
    gap > 0 && name > 0 && tail.get(gap_after) == Some(&'{')
}

/// When a `super::super::…` path climbs from a module `depth` deep to the crate root, how
/// many characters it takes.
fn climbs_out(mut depth: usize, rest: &[char]) -> Option<usize> {
    let mut len = 0;
    while rest[len..].starts_with(&['s', 'u', 'p', 'e', 'r', ':', ':']) {
        depth = depth.checked_sub(1)?;
        len += 7;
        while rest.get(len).is_some_and(|c| c.is_whitespace()) {
            len += 1;
        }
    }
    (depth == 0).then_some(len)
}

/// The first segment of each path that starts at `at`: one name, or each item of a group.
fn first_segments(chars: &[char], mut at: usize) -> Vec<(usize, String)> {
    while chars.get(at).is_some_and(|c| c.is_whitespace()) {
        at += 1;
    }
    if chars.get(at) != Some(&'{') {
        let name: String = chars[at..].iter().take_while(|&&c| is_ident(c)).collect();
        return if name.is_empty() { Vec::new() } else { vec![(at, name)] };
    }
    let mut found = Vec::new();
    let mut depth = 0;
    let mut expecting_item = true;
    for (pos, &c) in chars.iter().enumerate().skip(at) {
        match c {
            '{' => {
                depth += 1;
                expecting_item = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expecting_item = true,
            c if expecting_item && is_ident(c) => {
                let name: String = chars[pos..].iter().take_while(|&&c| is_ident(c)).collect();
                found.push((pos, name));
                expecting_item = false;
            }
            _ => {}
        }
    }
    found
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display())).path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn breaches_in(src: &Path) -> (Vec<Breach>, BTreeSet<String>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut breaches = Vec::new();
    let mut modules = BTreeSet::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("a file found under src");
        if relative.components().count() == 1 && UNLAYERED.iter().any(|u| relative == Path::new(u)) {
            continue;
        }
        let module = module_path(relative);
        let from = module[0].clone();
        modules.insert(from.clone());
        let source = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        for Import { line, module: to } in imports(&module, &source) {
            let allowed = match (layer_of(&from), layer_of(&to)) {
                (Some(a), Some(b)) => a < b,
                _ => false,
            };
            if to != from && !allowed {
                breaches.push(Breach { file: Path::new("src").join(relative), line, from: from.clone(), to });
            }
        }
    }
    (breaches, modules)
}

#[test]
fn every_module_imports_only_from_the_layers_below_its_own() {
    let (breaches, _) = breaches_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let report: Vec<String> = breaches.iter().map(ToString::to_string).collect();
    assert!(report.is_empty(), "imports that point up or sideways:\n{}", report.join("\n"));
}

#[test]
fn the_layers_name_every_top_level_module_and_no_other() {
    let (_, modules) = breaches_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let listed: BTreeSet<String> = LAYERS.iter().flat_map(|l| l.iter().map(|m| (*m).to_owned())).collect();
    assert_eq!(modules, listed, "src/layering.rs: LAYERS must list exactly the top-level modules of src/");
}

mod reading {
    use super::*;

    fn names(module: &str, source: &str) -> Vec<(usize, String)> {
        let module: Vec<String> = module.split("::").map(str::to_owned).collect();
        imports(&module, source).into_iter().map(|i| (i.line, i.module)).collect()
    }

    fn owned(expected: &[(usize, &str)]) -> Vec<(usize, String)> {
        expected.iter().map(|(l, m)| (*l, (*m).to_owned())).collect()
    }

    #[test]
    fn a_use_line_names_its_first_segment() {
        assert_eq!(names("store::meta", "use crate::audit::AuditEvent;"), owned(&[(1, "audit")]));
    }

    #[test]
    fn a_group_over_several_lines_names_each_item_on_its_own_line() {
        let source = "use crate::{\n    domain::{OrgId, records::{KeyScope}},\n    audit,\n};";
        assert_eq!(names("store", source), owned(&[(2, "domain"), (3, "audit")]));
    }

    #[test]
    fn a_path_written_inline_counts_as_much_as_a_use_line() {
        let source = "fn f() {\n    let m = crate::metrics::global();\n    $crate::config::x!();\n}";
        assert_eq!(names("service", source), owned(&[(2, "metrics"), (3, "config")]));
    }

    #[test]
    fn super_counts_only_when_it_climbs_out_of_the_top_level_module() {
        assert_eq!(names("store::meta::sql", "use super::super::records::X;"), Vec::new());
        assert_eq!(names("store::meta", "use super::super::policy::Y;"), owned(&[(1, "policy")]));
        assert_eq!(names("store::meta", "use super::{audit::A, blob};"), Vec::new());
        let inline = "mod tests {\n    use super::super::ALPHABET;\n}\nuse super::super::http::X;";
        assert_eq!(names("identity::password", inline), owned(&[(4, "http")]));
    }

    #[test]
    fn comments_strings_and_longer_names_are_not_imports() {
        let source = "// crate::policy\n/* crate::http /* nested */ crate::cli */\nlet s = \"crate::service\";\n\
                      let r = r#\"crate::workers\"#;\nlet c = '\"'; let q = '\\''; use my_crate::cli;\nfn f<'a>() {}";
        assert_eq!(names("audit", source), Vec::new());
    }

    #[test]
    fn a_file_is_the_module_its_path_names() {
        assert_eq!(module_path(Path::new("store/meta/mod.rs")), ["store", "meta"]);
        assert_eq!(module_path(Path::new("policy.rs")), ["policy"]);
    }

    #[test]
    fn a_breach_names_the_file_the_line_and_the_rule() {
        let breach = Breach { file: "src/audit/event.rs".into(), line: 6, from: "audit".into(), to: "policy".into() };
        let said = breach.to_string();
        assert!(said.starts_with("src/audit/event.rs:6: audit uses policy, which is above it"), "{said}");
        assert!(said.contains("audit may use only config, metrics, domain, crypto, identity"), "{said}");
        let sideways = Breach { file: "src/http/mod.rs".into(), line: 1, from: "http".into(), to: "workers".into() };
        assert!(sideways.to_string().contains("same layer"), "{sideways}");
    }
}
