//! `docs/security.md` does not drift: it has one entry per item 1–67 of the security checklist,
//! each with a status, and every test it cites (`path/to/file.rs::function`) exists — renaming
//! or deleting a cited test fails here. Contract-suite and store-suite functions must also be
//! stamped by their macro, so a cited check really runs. Cited paths without a function (a
//! `*.rs` file, a `scripts/` file) must exist too. Angle brackets mark placeholders.

#![allow(
    clippy::panic,
    clippy::expect_used,
    reason = "a test: helpers panic with the broken rule"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The number of items in section (a) of the checklist.
const ITEMS: u32 = 67;

/// The statuses an entry may have (on a line `**Status:** <status>...`).
const STATUSES: &[&str] = &["Proven", "Partial", "Not applicable yet", "TODO-LEAD"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The item entries: number → the entry's text (heading line to the next heading).
fn entries(doc: &str) -> BTreeMap<u32, Vec<String>> {
    let mut entries: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let mut current: Option<u32> = None;
    for line in doc.lines() {
        if line.starts_with('#') {
            current = None;
            if let Some(rest) = line.strip_prefix("### ")
                && let Some((number, title)) = rest.split_once(". ")
                && let Ok(n) = number.parse::<u32>()
            {
                assert!(!title.trim().is_empty(), "item {n} has no title");
                assert!(
                    entries.insert(n, Vec::new()).is_none(),
                    "item {n} has two entries"
                );
                current = Some(n);
            }
            continue;
        }
        if let Some(n) = current {
            entries.entry(n).or_default().push(line.to_owned());
        }
    }
    entries
}

/// The contents of every inline code span (single backticks) of `doc`.
fn code_spans(doc: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let (Some(inside), Some(_)) = (parts.next(), parts.next()) {
            spans.push(inside);
        }
    }
    spans
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `source` defines a function named exactly `name`.
fn defines_fn(source: &str, name: &str) -> bool {
    source.contains(&format!("fn {name}(")) || source.contains(&format!("fn {name}<"))
}

/// Whether one line of `source`, trimmed, is `entry`.
fn has_line(source: &str, entry: &str) -> bool {
    source.lines().any(|l| l.trim() == entry)
}

#[test]
fn security_doc_covers_every_item_and_cites_existing_tests() {
    let doc = read("docs/security.md");

    // One entry per item, each with a known status.
    let entries = entries(&doc);
    let numbers: BTreeSet<u32> = entries.keys().copied().collect();
    let expected: BTreeSet<u32> = (1..=ITEMS).collect();
    assert_eq!(
        numbers, expected,
        "docs/security.md must have exactly one `### N. Title` entry per item 1..={ITEMS}"
    );
    for (n, lines) in &entries {
        let status = lines
            .iter()
            .find_map(|l| l.trim().strip_prefix("**Status:**"))
            .unwrap_or_else(|| panic!("item {n} has no `**Status:**` line"));
        assert!(
            STATUSES.iter().any(|s| status.trim().starts_with(s)),
            "item {n}: status {status:?} is not one of {STATUSES:?}"
        );
    }

    // Every cited test exists; every cited file exists.
    let contract_macro = read("tests/src/suites/mod.rs");
    let store_macro = read("authkit-testkit/src/lib.rs");
    let mut cited = 0;
    for span in code_spans(&doc) {
        // Prose and placeholders (`tests/src/suites/<file>.rs::<function>`) are not citations.
        if span.contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '*')) {
            continue;
        }
        if let Some((path, name)) = span.split_once(".rs::") {
            let path = format!("{path}.rs");
            assert!(
                is_identifier(name),
                "`{span}`: `{name}` is not a function name"
            );
            let full = workspace_root().join(&path);
            assert!(full.is_file(), "`{span}`: {path} does not exist");
            let source = read(&path);
            assert!(
                defines_fn(&source, name),
                "`{span}`: {path} has no `fn {name}` (renamed or removed?)"
            );
            if let Some(module) = path
                .strip_prefix("tests/src/suites/")
                .and_then(|m| m.strip_suffix(".rs"))
            {
                assert!(
                    has_line(&contract_macro, &format!("{module}::{name},")),
                    "`{span}` is not stamped by contract_suite! in tests/src/suites/mod.rs"
                );
            }
            if path.starts_with("authkit-testkit/src/suite") {
                assert!(
                    has_line(&store_macro, &format!("{name},")),
                    "`{span}` is not stamped by a suite macro in authkit-testkit/src/lib.rs"
                );
            }
            cited += 1;
        } else if (span.ends_with(".rs") && span.contains('/')) || span.starts_with("scripts/") {
            assert!(
                workspace_root().join(span).exists(),
                "`{span}` does not exist"
            );
        }
    }
    assert!(
        cited >= 50,
        "docs/security.md cites only {cited} tests: did the reference format change?"
    );
}
