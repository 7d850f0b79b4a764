//! `openapi_service` serves core's document of the routes at their mount point.
#![cfg(feature = "openapi")]

use actix_web::{App, test};
use authkit_actix::openapi_service;

#[tokio::test(flavor = "current_thread")]
async fn openapi_json_is_core_document_at_the_mount_point() {
    let app = test::init_service(App::new().service(openapi_service("/api/v1"))).await;
    let request = test::TestRequest::get().uri("/openapi.json").to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/json"
    );
    let doc: serde_json::Value = serde_json::from_slice(&test::read_body(response).await).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc,
        serde_json::to_value(authkit_core::http::openapi::openapi("/api/v1")).unwrap()
    );
    assert!(doc["paths"]["/api/v1/login"]["post"].is_object());
}
