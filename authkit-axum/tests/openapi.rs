//! `openapi_router` serves core's document of the routes at their mount point.
#![cfg(feature = "openapi")]

use authkit_axum::openapi_router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn openapi_json_is_core_document_at_the_mount_point() {
    let app: axum::Router = openapi_router("/api/v1");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /openapi.json HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let doc: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc,
        serde_json::to_value(authkit_core::http::openapi::openapi("/api/v1")).unwrap()
    );
    assert!(doc["paths"]["/api/v1/login"]["post"].is_object());
    server.abort();
}
