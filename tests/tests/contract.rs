//! The HTTP contract suite, stamped for every adapter × database pair. Module names are nextest
//! filters: `cargo nextest run -p authkit-tests -E 'test(/^axum_postgres::/)'`.

use authkit_tests::{Backend, Framework};

mod axum_sqlite {
    use super::*;
    authkit_tests::contract_suite!(Framework::Axum, Backend::Sqlite);
}

mod axum_postgres {
    use super::*;
    authkit_tests::contract_suite!(Framework::Axum, Backend::Postgres);
}

mod actix_sqlite {
    use super::*;
    authkit_tests::contract_suite!(Framework::Actix, Backend::Sqlite);
}

mod actix_postgres {
    use super::*;
    authkit_tests::contract_suite!(Framework::Actix, Backend::Postgres);
}
