//! A notes API on axum: every user sees only their own notes, and one admin route lists them
//! all for callers holding the `users:read` permission. authkit serves its routes under
//! `/api/v1`; [`app`] adds the notes routes next to them.
//!
//! Run: `cargo run -p example-axum-notes` (see `examples/README.md` for curl lines).
//!
//! - `GET /notes`, `POST /notes`: the caller's notes, newest first; a new note.
//! - `GET`, `PUT`, `DELETE /notes/{id}`: one of the caller's notes. Another user's note answers
//!   404 `not_found`, exactly like an unknown id, so that ids reveal nothing.
//! - `GET /admin/notes`: every note; 403 `forbidden` without `users:read`.
//!
//! Every error body is the contract's problem document (`application/problem+json`), built from
//! an `authkit_core::Error` through `authkit_axum::ApiError`.

use authkit_axum::{ApiError, CurrentUser, require_permission};
use authkit_core::error::FieldError;
use authkit_core::{AuthKit, Error};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use example_notes_db::{Note, NotesDb};

/// The longest title accepted, in characters.
const MAX_TITLE: usize = 200;
/// The longest body accepted, in characters.
const MAX_BODY: usize = 10_000;

/// What the handlers share. `CurrentUser` finds the kit through `FromRef`.
#[derive(Debug, Clone)]
struct AppState {
    kit: AuthKit,
    notes: NotesDb,
}

impl FromRef<AppState> for AuthKit {
    fn from_ref(state: &AppState) -> Self {
        state.kit.clone()
    }
}

/// The whole app: authkit's routes under `/api/v1` and the notes routes.
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so that authkit records
/// client addresses on sessions and audit events.
pub fn app(kit: AuthKit, notes: NotesDb) -> Router {
    // Every route of this router needs `users:read`: no token is 401, a plain user 403.
    // (In a handler, `CurrentUser::require("users:read")?` does the same for one route.)
    let admin = Router::new()
        .route("/admin/notes", get(list_all))
        .route_layer(require_permission(kit.clone(), "users:read"));
    Router::new()
        .nest("/api/v1", authkit_axum::router(kit.clone()))
        .route("/notes", get(list).post(create))
        .route("/notes/{id}", get(read).put(update).delete(remove))
        .merge(admin)
        .with_state(AppState { kit, notes })
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

async fn list(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
) -> Result<Json<Notes>, ApiError> {
    let notes = state.notes.list(me.user_id).await?;
    Ok(Json(Notes { notes }))
}

async fn create(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    input: Result<Json<NoteInput>, JsonRejection>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let (title, body) = validate(input)?;
    let now = state.kit.clock().now();
    let note = state.notes.create(me.user_id, &title, &body, now).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

async fn read(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Note>, ApiError> {
    let note = state.notes.get(me.user_id, note_id(&id)?).await?;
    Ok(Json(note.ok_or(Error::NotFound)?))
}

async fn update(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
    input: Result<Json<NoteInput>, JsonRejection>,
) -> Result<Json<Note>, ApiError> {
    let id = note_id(&id)?;
    let (title, body) = validate(input)?;
    let now = state.kit.clock().now();
    let note = state
        .notes
        .update(me.user_id, id, &title, &body, now)
        .await?;
    Ok(Json(note.ok_or(Error::NotFound)?))
}

async fn remove(
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.notes.delete(me.user_id, note_id(&id)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound.into())
    }
}

/// The admin route; `require_permission` in [`app`] let only holders of `users:read` in.
async fn list_all(State(state): State<AppState>) -> Result<Json<Notes>, ApiError> {
    let notes = state.notes.list_all().await?;
    Ok(Json(Notes { notes }))
}

/// A path id that is not a UUID names no note: 404, like any other unknown id.
fn note_id(raw: &str) -> Result<Uuid, Error> {
    raw.parse().map_err(|_| Error::NotFound)
}

/// The body as a (title, body) pair, or the contract's 415/400/422 problems.
fn validate(input: Result<Json<NoteInput>, JsonRejection>) -> Result<(String, String), Error> {
    let input = match input {
        Ok(Json(input)) => input,
        Err(JsonRejection::MissingJsonContentType(_)) => return Err(Error::UnsupportedMediaType),
        Err(e) => return Err(Error::MalformedRequest(e.body_text())),
    };
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
