//! The README's embedding example is the example crate, verbatim.

#[test]
fn readme_embeds_the_example_verbatim() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../../examples/axum-sqlite/src/main.rs");
    let body = &example[example.find("use authkit_axum").unwrap()..];
    assert!(
        readme.contains(body),
        "README.md's example drifted from examples/axum-sqlite"
    );
    assert!(readme.contains("cargo run --release -p authkit-server"));
    assert!(readme.contains("./scripts/test"));
}

/// docs/embedding.md quotes the axum and actix examples verbatim, and links every doc page
/// the other pages point to.
#[test]
fn embedding_guide_quotes_the_examples_verbatim() {
    let guide = include_str!("../../docs/embedding.md");
    let axum = include_str!("../../examples/axum-sqlite/src/main.rs");
    let actix = include_str!("../../examples/actix-notes/src/main.rs");
    for (name, source, start) in [
        ("axum-sqlite", axum, "use authkit_axum"),
        ("actix-notes", actix, "use actix_web"),
    ] {
        let body = &source[source.find(start).unwrap()..];
        assert!(
            guide.contains(body.trim_end()),
            "docs/embedding.md's copy of examples/{name} drifted"
        );
    }
}

/// Every relative link between the docs pages and the README points to a file that exists.
#[test]
fn doc_links_point_to_files() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let pages = [
        "README.md",
        "docs/getting-started.md",
        "docs/embedding.md",
        "docs/api.md",
        "docs/operations.md",
        "docs/configuration.md",
        "deploy/README.md",
    ];
    for page in pages {
        let path = root.join(page);
        let Ok(text) = std::fs::read_to_string(&path) else {
            panic!("{page} is missing");
        };
        let dir = path.parent().unwrap();
        for target in text.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            if target.starts_with("http") || target.starts_with('#') || target.starts_with('<') {
                continue;
            }
            let file = target.split('#').next().unwrap();
            assert!(
                dir.join(file).exists(),
                "{page} links to {target}, which does not exist"
            );
        }
    }
}
