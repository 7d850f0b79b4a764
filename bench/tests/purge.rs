//! `authkit-bench purge` fills what it says and the purge deletes what it should: the ended
//! half of the sessions and their spent hashes; a second run on the same file is refused.
#![allow(missing_docs, reason = "an integration test")]

use authkit_bench::purge::{PurgeError, PurgeOptions, purge};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_deletes_the_ended_half() {
    let dir = tempfile::tempdir().unwrap();
    let options = PurgeOptions {
        database_url: format!("sqlite://{}/purge.db", dir.path().display()),
        sessions: 1_200,
        spent: 3_000,
    };
    let report = purge(&options).await.unwrap();
    assert_eq!(report.deleted, 600);
    assert_eq!(report.spent_before, 3_000);
    assert_eq!(report.spent_after, 1_500);
    assert!(
        report
            .to_json()
            .starts_with(r#"{"deleted":600,"spent_before":3000,"#)
    );
    assert!(matches!(purge(&options).await, Err(PurgeError::NotEmpty)));
    assert!(matches!(
        purge(&PurgeOptions {
            database_url: "postgres://localhost/x".to_owned(),
            ..options
        })
        .await,
        Err(PurgeError::NotSqlite)
    ));
}
