//! Operational routes at the root: `GET /health`, `GET /ready`, `GET /.well-known/jwks.json`.

use std::sync::Arc;
use std::time::Duration;

use authkit_core::ports::{OutboxStore, StoreHealth};
use axum::Router;
use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// How long verifiers may cache the JWKS (`Cache-Control: max-age`): as long as a new key is
/// published before it signs by default ([`authkit_core::jwt::DEFAULT_ACTIVATION_DELAY`]).
pub(crate) const JWKS_MAX_AGE: &str = "public, max-age=300";

/// The routes, answering readiness with `health` (bounded by `ready_timeout`) and the outbox
/// counts, and publishing the JWKS that `jwks` returns at each request (the kit's current one:
/// it changes as keys rotate).
pub(crate) fn router(
    health: Arc<dyn StoreHealth>,
    outbox: Arc<dyn OutboxStore>,
    jwks: impl Fn() -> serde_json::Value + Clone + Send + Sync + 'static,
    ready_timeout: Duration,
) -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { json_response(StatusCode::OK, &json!({"status": "ok"})) }),
        )
        .route(
            "/ready",
            get(move || {
                let health = Arc::clone(&health);
                let outbox = Arc::clone(&outbox);
                async move { ready(&*health, &*outbox, ready_timeout).await }
            }),
        )
        .route(
            "/.well-known/jwks.json",
            get(move || {
                let jwks = bytes_of(&jwks());
                async move {
                    let mut response = Response::new(Body::from(jwks));
                    let headers = response.headers_mut();
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    // New keys are published this long before they sign, and old ones stay
                    // until their tokens have expired, so a cached copy is never wrong.
                    headers.insert(CACHE_CONTROL, HeaderValue::from_static(JWKS_MAX_AGE));
                    response
                }
            }),
        )
}

fn bytes_of(value: &serde_json::Value) -> axum::body::Bytes {
    // Serializing a `Value` cannot fail; an empty key set is the safe fallback.
    axum::body::Bytes::from(
        serde_json::to_vec(value).unwrap_or_else(|_| br#"{"keys":[]}"#.to_vec()),
    )
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, bytes_of(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// 200 when the database answers a ping within `timeout`, else 503. The body also shows the
/// email outbox by status (`queued`, `processing`, `abandoned`...): informational, an
/// abandoned email does not make the instance unready (alert on it instead).
async fn ready(health: &dyn StoreHealth, outbox: &dyn OutboxStore, timeout: Duration) -> Response {
    let database = match tokio::time::timeout(timeout, health.ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::warn!(error = %crate::error::chain(&error), "readiness: database unavailable");
            false
        }
        Err(_) => {
            tracing::warn!(timeout = ?timeout, "readiness: database ping timed out");
            false
        }
    };
    if database {
        let outbox = match tokio::time::timeout(timeout, outbox.outbox_counts()).await {
            Ok(Ok(c)) => json!({
                "queued": c.queued,
                "processing": c.processing,
                "sent": c.sent,
                "dropped": c.dropped,
                "abandoned": c.abandoned,
            }),
            _ => json!("unknown"),
        };
        json_response(
            StatusCode::OK,
            &json!({"status": "ok", "checks": {"database": "ok"}, "outbox": outbox}),
        )
    } else {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "unavailable", "checks": {"database": "unavailable"}}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authkit_core::async_trait;
    use authkit_core::domain::{
        Email, EmailId, EmailKind, EmailPayload, NewEmail, OutboxStatus, QueuedMail,
    };
    use authkit_core::ports::{StoreError, StoreResult};
    use authkit_core::testing::MemoryStore;

    #[derive(Debug)]
    enum Health {
        Up,
        Down,
        Hangs,
    }

    #[async_trait]
    impl StoreHealth for Health {
        async fn ping(&self) -> StoreResult<()> {
            match self {
                Self::Up => Ok(()),
                Self::Down => Err(StoreError::Unavailable("connection refused".into())),
                Self::Hangs => std::future::pending().await,
            }
        }
    }

    async fn get_ready(health: Health) -> (u16, serde_json::Value) {
        get_ready_with(health, Arc::new(MemoryStore::new())).await
    }

    async fn get_ready_with(
        health: Health,
        outbox: Arc<dyn OutboxStore>,
    ) -> (u16, serde_json::Value) {
        let app = router(
            Arc::new(health),
            outbox,
            || json!({"keys": []}),
            Duration::from_millis(200),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let response = reqwest::get(format!("http://{addr}/ready")).await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap();
        server.abort();
        (status, body)
    }

    #[tokio::test]
    async fn ready_reflects_the_database() {
        let (status, body) = get_ready(Health::Up).await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "ok");
        assert_eq!(body["checks"], json!({"database": "ok"}));
        for health in [Health::Down, Health::Hangs] {
            let (status, body) = get_ready(health).await;
            assert_eq!(status, 503);
            assert_eq!(body["checks"]["database"], "unavailable");
        }
    }

    #[tokio::test]
    async fn ready_shows_the_outbox_by_status() {
        let store = Arc::new(MemoryStore::new());
        let now = authkit_core::time::OffsetDateTime::UNIX_EPOCH;
        let email = |n: u128| NewEmail {
            id: EmailId(authkit_core::uuid::Uuid::from_u128(n)),
            to: Email::parse("ada@example.com").unwrap(),
            kind: EmailKind::PasswordChanged,
            locale: None,
            payload: EmailPayload::new("{}"),
            created_at: now,
        };
        let mail = QueuedMail {
            token: None,
            emails: vec![email(1), email(2), email(3)],
        };
        store.enqueue_mail(&mail).await.unwrap();
        let claimed = store.claim_emails(now, now, 1).await.unwrap();
        store
            .mark_email_failed(claimed[0].id, "permanent: 550", None, now)
            .await
            .unwrap();
        let (status, body) = get_ready_with(Health::Up, store.clone()).await;
        assert_eq!(
            status, 200,
            "an abandoned email does not make the instance unready"
        );
        assert_eq!(body["outbox"]["queued"], 2);
        assert_eq!(body["outbox"]["abandoned"], 1);
        assert_eq!(body["outbox"]["sent"], 0);
        assert_eq!(
            store
                .list_outbox(Some(OutboxStatus::Abandoned), 10)
                .await
                .unwrap()
                .len(),
            1
        );
    }
}
