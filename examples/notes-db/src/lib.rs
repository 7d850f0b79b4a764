//! [`NotesDb`]: the notes table of the two notes examples (`example-axum-notes`,
//! `example-actix-notes`), in the SQLite database authkit uses. It knows no web framework: each
//! example wraps it in its own handlers.
//!
//! Every query that reads or changes one note says `WHERE id = ? AND owner_id = ?`: the
//! ownership check lives in the SQL, so no handler can forget it.

use authkit_core::domain::UserId;
use authkit_sqlx::sqlx::sqlite::{SqlitePool, SqliteRow};
use authkit_sqlx::sqlx::{self, Row};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;
use uuid::fmt::Hyphenated;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS notes (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)";
const CREATE_INDEX: &str = "CREATE INDEX IF NOT EXISTS notes_owner ON notes (owner_id, id)";

/// One note, as stored and as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// UUIDv7, so that newer notes sort last.
    pub id: Uuid,
    /// The user who wrote it.
    pub owner_id: Uuid,
    /// A short title.
    pub title: String,
    /// The text.
    pub body: String,
    /// When it was written.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The notes table. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct NotesDb {
    pool: SqlitePool,
}

/// Database failures become authkit's `internal` problem (logged, never shown).
fn internal(e: sqlx::Error) -> authkit_core::Error {
    authkit_core::Error::Internal(Box::new(e))
}

fn note(row: &SqliteRow) -> Result<Note, sqlx::Error> {
    Ok(Note {
        id: row.try_get::<Hyphenated, _>("id")?.into_uuid(),
        owner_id: row.try_get::<Hyphenated, _>("owner_id")?.into_uuid(),
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl NotesDb {
    /// Creates the table when missing (safe at every boot) on `pool`, e.g.
    /// `SqliteStore::pool()`, so notes live next to authkit's tables.
    pub async fn open(pool: SqlitePool) -> Result<Self, sqlx::Error> {
        sqlx::query(CREATE_TABLE).execute(&pool).await?;
        sqlx::query(CREATE_INDEX).execute(&pool).await?;
        Ok(Self { pool })
    }

    /// The notes of `owner`, newest first.
    pub async fn list(&self, owner: UserId) -> authkit_core::Result<Vec<Note>> {
        sqlx::query("SELECT * FROM notes WHERE owner_id = ? ORDER BY id DESC")
            .bind(owner.0.hyphenated())
            .try_map(|row| note(&row))
            .fetch_all(&self.pool)
            .await
            .map_err(internal)
    }

    /// Every note of every user, newest first (for the admin route).
    pub async fn list_all(&self) -> authkit_core::Result<Vec<Note>> {
        sqlx::query("SELECT * FROM notes ORDER BY id DESC")
            .try_map(|row| note(&row))
            .fetch_all(&self.pool)
            .await
            .map_err(internal)
    }

    /// The note `id` if `owner` wrote it; `None` for an unknown id and for another user's note.
    pub async fn get(&self, owner: UserId, id: Uuid) -> authkit_core::Result<Option<Note>> {
        sqlx::query("SELECT * FROM notes WHERE id = ? AND owner_id = ?")
            .bind(id.hyphenated())
            .bind(owner.0.hyphenated())
            .try_map(|row| note(&row))
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)
    }

    /// Stores a new note of `owner`.
    pub async fn create(
        &self,
        owner: UserId,
        title: &str,
        body: &str,
        now: OffsetDateTime,
    ) -> authkit_core::Result<Note> {
        sqlx::query(
            "INSERT INTO notes (id, owner_id, title, body, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(authkit_core::domain::new_v7(now).hyphenated())
        .bind(owner.0.hyphenated())
        .bind(title)
        .bind(body)
        .bind(now)
        .bind(now)
        .try_map(|row| note(&row))
        .fetch_one(&self.pool)
        .await
        .map_err(internal)
    }

    /// Replaces the title and body of the note `id` if `owner` wrote it; `None` otherwise.
    pub async fn update(
        &self,
        owner: UserId,
        id: Uuid,
        title: &str,
        body: &str,
        now: OffsetDateTime,
    ) -> authkit_core::Result<Option<Note>> {
        sqlx::query(
            "UPDATE notes SET title = ?, body = ?, updated_at = ? \
             WHERE id = ? AND owner_id = ? RETURNING *",
        )
        .bind(title)
        .bind(body)
        .bind(now)
        .bind(id.hyphenated())
        .bind(owner.0.hyphenated())
        .try_map(|row| note(&row))
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)
    }

    /// Deletes the note `id` if `owner` wrote it; whether it did.
    pub async fn delete(&self, owner: UserId, id: Uuid) -> authkit_core::Result<bool> {
        let done = sqlx::query("DELETE FROM notes WHERE id = ? AND owner_id = ?")
            .bind(id.hyphenated())
            .bind(owner.0.hyphenated())
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        Ok(done.rows_affected() == 1)
    }
}
