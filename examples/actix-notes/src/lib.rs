//! A notes API on actix-web: every user sees only their own notes, and one admin route lists
//! them all for callers holding the `users:read` permission. authkit serves its routes under
//! `/api/v1`; [`app`] adds the notes routes next to them.
//!
//! Run: `cargo run -p example-actix-notes` (see `examples/README.md` for curl lines).
//!
//! - `GET /notes`, `POST /notes`: the caller's notes, newest first; a new note.
//! - `GET`, `PUT`, `DELETE /notes/{id}`: one of the caller's notes. Another user's note answers
//!   404 `not_found`, exactly like an unknown id, so that ids reveal nothing.
//! - `GET /admin/notes`: every note; 403 `forbidden` without `users:read`.
//!
//! Every error body is the contract's problem document (`application/problem+json`), built from
//! an `authkit_core::Error` through `authkit_actix::ApiError`.

use actix_web::error::JsonPayloadError;
use actix_web::{HttpRequest, HttpResponse, web};
use authkit_actix::{ApiError, CurrentUser};
use authkit_core::error::FieldError;
use authkit_core::{AuthKit, Error};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use example_notes_db::{Note, NotesDb};

/// The longest title accepted, in characters.
const MAX_TITLE: usize = 200;
/// The longest body accepted, in characters.
const MAX_BODY: usize = 10_000;
/// The largest JSON body accepted, in bytes.
const BODY_LIMIT: usize = 64 * 1024;

/// The whole app, for `App::new().configure(app(kit, notes))`: authkit's routes under
/// `/api/v1`, the notes routes, and the app data they read (`web::Data<AuthKit>` is what
/// `CurrentUser` authenticates with). actix builds the app once per worker, hence `Fn + Clone`.
pub fn app(kit: AuthKit, notes: NotesDb) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg| {
        cfg.app_data(web::Data::new(kit.clone()))
            .app_data(web::Data::new(notes.clone()))
            .app_data(
                web::JsonConfig::default()
                    .limit(BODY_LIMIT)
                    .error_handler(json_error),
            )
            .service(web::scope("/api/v1").configure(authkit_actix::configure(kit.clone())))
            .service(web::resource("/notes").get(list).post(create))
            .service(
                web::resource("/notes/{id}")
                    .get(read)
                    .put(update)
                    .delete(remove),
            )
            .route("/admin/notes", web::get().to(list_all));
    }
}

/// A list of notes.
#[derive(Debug, Serialize)]
struct Notes {
    notes: Vec<Note>,
}

/// The body of `POST /notes` and `PUT /notes/{id}`.
#[derive(Debug, Deserialize)]
struct NoteInput {
    title: Option<String>,
    body: Option<String>,
}

async fn list(notes: web::Data<NotesDb>, me: CurrentUser) -> Result<web::Json<Notes>, ApiError> {
    let notes = notes.list(me.0.user_id).await?;
    Ok(web::Json(Notes { notes }))
}

async fn create(
    kit: web::Data<AuthKit>,
    notes: web::Data<NotesDb>,
    me: CurrentUser,
    input: web::Json<NoteInput>,
) -> Result<HttpResponse, ApiError> {
    let (title, body) = validate(input.into_inner())?;
    let now = kit.clock().now();
    let note = notes.create(me.0.user_id, &title, &body, now).await?;
    Ok(HttpResponse::Created().json(note))
}

async fn read(
    notes: web::Data<NotesDb>,
    me: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Note>, ApiError> {
    let note = notes.get(me.0.user_id, note_id(&id)?).await?;
    Ok(web::Json(note.ok_or(Error::NotFound)?))
}

async fn update(
    kit: web::Data<AuthKit>,
    notes: web::Data<NotesDb>,
    me: CurrentUser,
    id: web::Path<String>,
    input: web::Json<NoteInput>,
) -> Result<web::Json<Note>, ApiError> {
    let id = note_id(&id)?;
    let (title, body) = validate(input.into_inner())?;
    let now = kit.clock().now();
    let note = notes.update(me.0.user_id, id, &title, &body, now).await?;
    Ok(web::Json(note.ok_or(Error::NotFound)?))
}

async fn remove(
    notes: web::Data<NotesDb>,
    me: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if notes.delete(me.0.user_id, note_id(&id)?).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(Error::NotFound.into())
    }
}

/// The admin route: authenticated (`CurrentUser`, 401) then authorized (`require`, 403).
/// For a whole scope of admin routes, `.wrap(authkit_actix::require_permission("users:read"))`
/// does the same.
async fn list_all(
    notes: web::Data<NotesDb>,
    me: CurrentUser,
) -> Result<web::Json<Notes>, ApiError> {
    me.require("users:read")?;
    let notes = notes.list_all().await?;
    Ok(web::Json(Notes { notes }))
}

/// A path id that is not a UUID names no note: 404, like any other unknown id.
fn note_id(raw: &str) -> Result<Uuid, Error> {
    raw.parse().map_err(|_| Error::NotFound)
}

/// actix's JSON errors as the contract's 415/413/400 problems.
fn json_error(error: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let error = match error {
        JsonPayloadError::ContentType => Error::UnsupportedMediaType,
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            Error::PayloadTooLarge
        }
        other => Error::MalformedRequest(other.to_string()),
    };
    ApiError(error).into()
}

/// The body as a (title, body) pair, or the contract's 422 problem.
fn validate(input: NoteInput) -> Result<(String, String), Error> {
    let title = input.title.unwrap_or_default().trim().to_owned();
    let body = input.body.unwrap_or_default();
    let mut errors = Vec::new();
    if title.is_empty() {
        errors.push(FieldError::new("title", "required", "a title is required"));
    } else if title.chars().count() > MAX_TITLE {
        let message = format!("at most {MAX_TITLE} characters");
        errors.push(FieldError::new("title", "too_long", message));
    }
    if body.chars().count() > MAX_BODY {
        let message = format!("at most {MAX_BODY} characters");
        errors.push(FieldError::new("body", "too_long", message));
    }
    if errors.is_empty() {
        Ok((title, body))
    } else {
        Err(Error::Validation(errors))
    }
}
