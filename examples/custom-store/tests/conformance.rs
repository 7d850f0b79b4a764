//! The store conformance suite against `LoggingStore`: every MUST rule of the storage ports, one
//! test each (`cargo test -p example-custom-store`).

mod logging_store {
    authkit_testkit::store_suite!(async {
        example_custom_store::LoggingStore::new(authkit_core::testing::MemoryStore::new())
    });
}
