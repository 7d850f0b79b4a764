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
