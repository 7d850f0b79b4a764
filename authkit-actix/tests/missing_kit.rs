//! `CurrentUser` without the kit in the app data: a 500 problem, not a panic or a 401.

use actix_web::{App, test, web};
use authkit_actix::CurrentUser;

async fn whoami(me: CurrentUser) -> String {
    me.0.user_id.to_string()
}

#[tokio::test(flavor = "current_thread")]
async fn current_user_without_the_kit_is_a_500_problem() {
    let app = test::init_service(App::new().route("/whoami", web::get().to(whoami))).await;
    let request = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("authorization", "Bearer x.y.z"))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let body: serde_json::Value = serde_json::from_slice(&test::read_body(response).await).unwrap();
    assert_eq!(body["code"], "internal");
    assert_eq!(body["detail"], "an internal error occurred");
}
