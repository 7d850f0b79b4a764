//! Checks of the email outbox ([`authkit_core::ports::OutboxStore`]), of the mail that
//! `create_user`, `update_profile`, `set_password` and `reset_password_with_token` write in their
//! transaction ([`QueuedMail`]), and of the users' locale.
//!
//! Unlike the other checks, the outbox checks need an outbox of their own (the fresh store that
//! [`store_suite!`](crate::store_suite) gives every check): claiming takes any due message, and
//! counts and listings cover every message.
//!
//! A store must erase the payload of a `sent` or `dropped` message; the ports cannot show a
//! payload that is no longer claimable, so the checks below only see that such a message is
//! never claimed again.

use std::collections::BTreeSet;
use std::sync::Arc;

use authkit_core::domain::{
    AuditEvent, ClaimedEmail, Email, EmailId, EmailKind, EmailPayload, Locale, NewEmail,
    NewOneTimeToken, OutboxCounts, OutboxEntry, OutboxStatus, ProfilePatch, QueuedMail,
    TokenPurpose, User, UserId, UserQuery,
};
use authkit_core::ports::{Conflict, Store, StoreError};
use time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;

use super::{
    T0, change_email, email, fresh_hash, is_conflict, new_token, new_user, read_user, rename,
    token, token_hash, unique, user,
};

// ---------------------------------------------------------------------------------------------
// helpers

/// How long the checks' claims hold a message.
const LEASE: Duration = Duration::minutes(5);

fn locale(tag: &str) -> Locale {
    Locale::parse(tag).unwrap_or_else(|| panic!("{tag:?} is a locale"))
}

/// A message to `to`, queued (and due) at `at`, in `pt-BR`, with a unique payload.
fn message(to: &Email, kind: EmailKind, at: OffsetDateTime) -> NewEmail {
    NewEmail {
        id: EmailId::new_v7(at),
        to: to.clone(),
        kind,
        locale: Some(locale("pt-BR")),
        payload: EmailPayload::new(format!(
            r#"{{"link":"https://example.com/t/{}"}}"#,
            unique()
        )),
        created_at: at,
    }
}

/// `n` messages to fresh addresses, the i-th queued at `first + i` seconds.
fn messages(n: u32, first: OffsetDateTime) -> Vec<NewEmail> {
    (0..n)
        .map(|i| {
            message(
                &email("to"),
                EmailKind::PasswordChanged,
                first + Duration::seconds(i.into()),
            )
        })
        .collect()
}

fn emails_only(emails: &[NewEmail]) -> QueuedMail {
    QueuedMail {
        token: None,
        emails: emails.to_vec(),
    }
}

async fn enqueue(store: &Arc<dyn Store>, emails: &[NewEmail]) {
    store
        .enqueue_mail(&emails_only(emails))
        .await
        .expect("enqueue_mail");
}

/// Claims at `now` with a lease of [`LEASE`].
async fn claim(store: &Arc<dyn Store>, now: OffsetDateTime, limit: u32) -> Vec<ClaimedEmail> {
    store
        .claim_emails(now, now + LEASE, limit)
        .await
        .expect("claim_emails")
}

fn ids(claimed: &[ClaimedEmail]) -> Vec<EmailId> {
    claimed.iter().map(|c| c.id).collect()
}

fn new_ids(emails: &[NewEmail]) -> Vec<EmailId> {
    emails.iter().map(|e| e.id).collect()
}

/// Asserts that `claimed` is `sent` as queued (payload and locale included), at `attempts`.
fn assert_claimed(claimed: &ClaimedEmail, sent: &NewEmail, attempts: u32, what: &str) {
    assert_eq!(claimed.id, sent.id, "{what}: id");
    assert_eq!(claimed.to, sent.to, "{what}: recipient");
    assert_eq!(claimed.kind, sent.kind, "{what}: kind");
    assert_eq!(claimed.locale, sent.locale, "{what}: locale");
    assert_eq!(
        claimed.payload.expose(),
        sent.payload.expose(),
        "{what}: payload"
    );
    assert_eq!(claimed.created_at, sent.created_at, "{what}: created_at");
    assert_eq!(claimed.attempts, attempts, "{what}: attempts");
}

/// Every message, oldest first.
async fn entries(store: &Arc<dyn Store>) -> Vec<OutboxEntry> {
    store.list_outbox(None, 10_000).await.expect("list_outbox")
}

async fn entry(store: &Arc<dyn Store>, id: EmailId) -> OutboxEntry {
    entries(store)
        .await
        .into_iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("message {id} is listed"))
}

/// A message as listed right after it was queued.
fn queued_entry(e: &NewEmail) -> OutboxEntry {
    OutboxEntry {
        id: e.id,
        to: e.to.clone(),
        kind: e.kind,
        status: OutboxStatus::Queued,
        attempts: 0,
        next_attempt_at: e.created_at,
        last_error: None,
        created_at: e.created_at,
        updated_at: e.created_at,
    }
}

/// Entries as listed: id ascending.
fn by_id(mut entries: Vec<OutboxEntry>) -> Vec<OutboxEntry> {
    entries.sort_by_key(|e| e.id);
    entries
}

async fn counts(store: &Arc<dyn Store>) -> OutboxCounts {
    store.outbox_counts().await.expect("outbox_counts")
}

/// How many messages the outbox holds, whatever their status.
async fn total(store: &Arc<dyn Store>) -> u64 {
    let c = counts(store).await;
    OutboxStatus::ALL.into_iter().map(|s| c.get(s)).sum()
}

fn is_not_found(result: &Result<(), StoreError>) -> bool {
    matches!(result, Err(StoreError::NotFound))
}

/// Whether the token `hash` was stored (consuming it).
async fn token_stored(store: &Arc<dyn Store>, hash: &NewOneTimeToken) -> bool {
    store
        .consume_token(&hash.hash, hash.purpose, hash.created_at)
        .await
        .expect("consume_token")
        .is_some()
}

/// A token of `purpose` for user `id` at `email`, created at [`T0`].
fn token_for(id: UserId, email: &Email, purpose: TokenPurpose) -> NewOneTimeToken {
    NewOneTimeToken {
        hash: token_hash(purpose.as_str()),
        purpose,
        user_id: id,
        email: email.clone(),
        created_at: T0,
        expires_at: T0 + Duration::minutes(30),
    }
}

fn mail(token: Option<NewOneTimeToken>, emails: &[NewEmail]) -> QueuedMail {
    QueuedMail {
        token,
        emails: emails.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// enqueue and claim

/// A queued message is listed as `queued` (0 attempts, due at its `created_at`); claiming it
/// returns it as queued (recipient, kind, locale, payload, `created_at`; a `None` locale too)
/// with `attempts = 1`, and lists it as `processing` with `updated_at = now`.
pub async fn outbox_enqueue_then_claim_returns_the_message(store: Arc<dyn Store>) {
    let a = message(&email("a"), EmailKind::VerifyEmail, T0);
    let mut b = message(
        &email("b"),
        EmailKind::PasswordChanged,
        T0 + Duration::seconds(1),
    );
    b.locale = None;
    enqueue(&store, &[a.clone(), b.clone()]).await;
    assert_eq!(
        entries(&store).await,
        [queued_entry(&a), queued_entry(&b)],
        "queued messages are listed as queued, due at their created_at"
    );

    let now = T0 + Duration::seconds(1);
    let got = claim(&store, now, 10).await;
    assert_eq!(ids(&got), [a.id, b.id], "both due messages are claimed");
    assert_claimed(&got[0], &a, 1, "first claim");
    assert_claimed(&got[1], &b, 1, "first claim");
    assert_eq!(
        entry(&store, a.id).await,
        OutboxEntry {
            status: OutboxStatus::Processing,
            attempts: 1,
            updated_at: now,
            ..queued_entry(&a)
        },
        "a claimed message is processing"
    );
    assert!(
        claim(&store, now, 10).await.is_empty(),
        "nothing else is due"
    );
}

/// A message is due from its `created_at` (inclusive), not before.
pub async fn outbox_claim_skips_messages_not_due(store: Arc<dyn Store>) {
    let due_at = T0 + Duration::hours(1);
    let later = message(&email("later"), EmailKind::EmailChanged, due_at);
    enqueue(&store, std::slice::from_ref(&later)).await;
    assert!(claim(&store, T0, 10).await.is_empty(), "not due yet");
    assert!(
        claim(&store, due_at - Duration::microseconds(1), 10)
            .await
            .is_empty(),
        "not due one microsecond before"
    );
    assert_eq!(
        entry(&store, later.id).await,
        queued_entry(&later),
        "an early claim changes nothing"
    );
    let got = claim(&store, due_at, 10).await;
    assert_eq!(ids(&got), [later.id], "due at its created_at");
}

/// `claim_emails` claims at most `limit` messages (none for 0); repeated claims take the rest,
/// each message once.
pub async fn outbox_claim_respects_the_limit(store: Arc<dyn Store>) {
    let all = messages(5, T0);
    enqueue(&store, &all).await;
    let now = T0 + Duration::minutes(1);
    assert!(
        claim(&store, now, 0).await.is_empty(),
        "limit 0 claims none"
    );
    let mut seen = Vec::new();
    for expected in [2, 2, 1, 0] {
        let got = claim(&store, now, 2).await;
        assert_eq!(got.len(), expected, "a claim with limit 2 takes {expected}");
        seen.extend(ids(&got));
    }
    assert_eq!(seen, new_ids(&all), "every message once, oldest first");
}

/// Claims take the oldest due first: by `next_attempt_at` (a retried message by its retry
/// time, not its creation), then by id.
pub async fn outbox_claim_takes_the_oldest_due_first(store: Arc<dyn Store>) {
    let at = |s: i64| T0 + Duration::seconds(s);
    let a = message(&email("a"), EmailKind::PasswordChanged, at(0));
    let b = message(&email("b"), EmailKind::PasswordChanged, at(1));
    let c = message(&email("c"), EmailKind::PasswordChanged, at(2));
    let d = message(&email("d"), EmailKind::PasswordChanged, at(3));
    let e = message(&email("e"), EmailKind::PasswordChanged, at(4));
    let f = message(&email("f"), EmailKind::PasswordChanged, at(4));
    enqueue(
        &store,
        &[
            d.clone(),
            b.clone(),
            f.clone(),
            a.clone(),
            e.clone(),
            c.clone(),
        ],
    )
    .await;

    assert_eq!(ids(&claim(&store, at(0), 1).await), [a.id], "the oldest");
    let retry_at = at(2) + Duration::milliseconds(500);
    store
        .mark_email_failed(a.id, "timeout", Some(retry_at), at(0))
        .await
        .expect("mark_email_failed");

    let now = at(10);
    assert_eq!(
        ids(&claim(&store, now, 3).await),
        [b.id, c.id, a.id],
        "ordered by next_attempt_at: the retried message by its retry time"
    );
    let (first, second) = if e.id < f.id {
        (e.id, f.id)
    } else {
        (f.id, e.id)
    };
    assert_eq!(
        ids(&claim(&store, now, 10).await),
        [d.id, first, second],
        "then the rest; equal due times by id"
    );
}

/// A claimed message is leased: not claimed again before `locked_until`, claimed again from
/// then on (its worker died) with `attempts = 2`, the same payload and a new lease.
pub async fn outbox_claimed_message_is_leased(store: Arc<dyn Store>) {
    let m = message(&email("leased"), EmailKind::PasswordReset, T0);
    enqueue(&store, std::slice::from_ref(&m)).await;
    let got = claim(&store, T0, 10).await;
    assert_eq!(ids(&got), [m.id]);
    assert_claimed(&got[0], &m, 1, "first claim");

    assert!(
        claim(&store, T0 + Duration::minutes(1), 10)
            .await
            .is_empty(),
        "leased: not claimed again"
    );
    let end = T0 + LEASE;
    assert!(
        claim(&store, end - Duration::microseconds(1), 10)
            .await
            .is_empty(),
        "leased until locked_until"
    );
    let again = claim(&store, end, 10).await;
    assert_eq!(ids(&again), [m.id], "claimed again once the lease ended");
    assert_claimed(&again[0], &m, 2, "second claim");
    assert!(
        claim(&store, end + LEASE - Duration::microseconds(1), 10)
            .await
            .is_empty(),
        "the second claim took a new lease"
    );
    assert_eq!(
        entry(&store, m.id).await,
        OutboxEntry {
            status: OutboxStatus::Processing,
            attempts: 2,
            updated_at: end,
            ..queued_entry(&m)
        }
    );
}

// ---------------------------------------------------------------------------------------------
// marks

/// `mark_email_sent` makes a processing message `sent` (`updated_at = now`), never claimed
/// again; marking it again in any way is `NotFound`, and so is preparing it.
pub async fn outbox_mark_email_sent_finishes_the_message(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let m = message(&u.email, EmailKind::VerifyEmail, T0);
    enqueue(&store, std::slice::from_ref(&m)).await;
    assert_eq!(ids(&claim(&store, T0, 10).await), [m.id]);
    let t1 = T0 + Duration::seconds(3);
    store
        .mark_email_sent(m.id, t1)
        .await
        .expect("mark_email_sent");
    let sent = OutboxEntry {
        status: OutboxStatus::Sent,
        attempts: 1,
        updated_at: t1,
        ..queued_entry(&m)
    };
    assert_eq!(entry(&store, m.id).await, sent, "sent, updated_at = now");
    assert!(
        claim(&store, T0 + Duration::days(30), 10).await.is_empty(),
        "a sent message is never claimed again"
    );

    let t2 = t1 + Duration::seconds(1);
    let again = store.mark_email_sent(m.id, t2).await;
    assert!(is_not_found(&again), "sent twice: NotFound, got {again:?}");
    let dropped = store.mark_email_dropped(m.id, t2).await;
    assert!(
        is_not_found(&dropped),
        "then dropped: NotFound, got {dropped:?}"
    );
    let failed = store.mark_email_failed(m.id, "late", Some(t2), t2).await;
    assert!(
        is_not_found(&failed),
        "then failed: NotFound, got {failed:?}"
    );
    let tok = new_token(&u, TokenPurpose::VerifyEmail, token_hash("late"));
    let prepared = store
        .prepare_email(m.id, &tok, &EmailPayload::new("late"), None, t2)
        .await;
    assert!(
        is_not_found(&prepared),
        "then prepared: NotFound, got {prepared:?}"
    );
    assert_eq!(entry(&store, m.id).await, sent, "none of them changed it");
}

/// `mark_email_dropped` makes a processing message `dropped`, never claimed again; marking it
/// again is `NotFound`.
pub async fn outbox_mark_email_dropped_finishes_the_message(store: Arc<dyn Store>) {
    let m = message(&email("nobody"), EmailKind::PasswordReset, T0);
    enqueue(&store, std::slice::from_ref(&m)).await;
    assert_eq!(ids(&claim(&store, T0, 10).await), [m.id]);
    let t1 = T0 + Duration::seconds(2);
    store
        .mark_email_dropped(m.id, t1)
        .await
        .expect("mark_email_dropped");
    let dropped = OutboxEntry {
        status: OutboxStatus::Dropped,
        attempts: 1,
        updated_at: t1,
        ..queued_entry(&m)
    };
    assert_eq!(
        entry(&store, m.id).await,
        dropped,
        "dropped, updated_at = now"
    );
    assert!(
        claim(&store, T0 + Duration::days(30), 10).await.is_empty(),
        "a dropped message is never claimed again"
    );
    let again = store.mark_email_dropped(m.id, t1).await;
    assert!(
        is_not_found(&again),
        "dropped twice: NotFound, got {again:?}"
    );
    let sent = store.mark_email_sent(m.id, t1).await;
    assert!(is_not_found(&sent), "then sent: NotFound, got {sent:?}");
    assert_eq!(entry(&store, m.id).await, dropped, "unchanged");
}

/// `mark_email_failed` with `retry_at` queues the message again, due then (not claimable
/// before), with its error; without, it is `abandoned` and never claimed; the error is listed.
pub async fn outbox_mark_email_failed_retries_or_abandons(store: Arc<dyn Store>) {
    let m = message(&email("flaky"), EmailKind::EmailChanged, T0);
    enqueue(&store, std::slice::from_ref(&m)).await;
    assert_eq!(ids(&claim(&store, T0, 10).await), [m.id]);

    let t1 = T0 + Duration::seconds(5);
    let retry_at = T0 + Duration::minutes(10);
    store
        .mark_email_failed(m.id, "smtp 451 try later", Some(retry_at), t1)
        .await
        .expect("mark_email_failed");
    assert_eq!(
        entry(&store, m.id).await,
        OutboxEntry {
            status: OutboxStatus::Queued,
            attempts: 1,
            next_attempt_at: retry_at,
            last_error: Some("smtp 451 try later".to_owned()),
            updated_at: t1,
            ..queued_entry(&m)
        },
        "queued again, due at retry_at, with the error"
    );
    assert!(
        claim(&store, retry_at - Duration::microseconds(1), 10)
            .await
            .is_empty(),
        "not claimable before retry_at"
    );
    let again = claim(&store, retry_at, 10).await;
    assert_eq!(ids(&again), [m.id], "claimable at retry_at");
    assert_claimed(&again[0], &m, 2, "the retry");

    let t2 = retry_at + Duration::seconds(5);
    store
        .mark_email_failed(m.id, "smtp 550 no such user", None, t2)
        .await
        .expect("mark_email_failed");
    let abandoned = OutboxEntry {
        status: OutboxStatus::Abandoned,
        attempts: 2,
        next_attempt_at: retry_at,
        last_error: Some("smtp 550 no such user".to_owned()),
        updated_at: t2,
        ..queued_entry(&m)
    };
    assert_eq!(
        entry(&store, m.id).await,
        abandoned,
        "abandoned with the last error"
    );
    assert!(
        claim(&store, T0 + Duration::days(30), 10).await.is_empty(),
        "an abandoned message is never claimed"
    );
    let twice = store.mark_email_failed(m.id, "again", None, t2).await;
    assert!(
        is_not_found(&twice),
        "failing an abandoned message: NotFound, got {twice:?}"
    );
    assert_eq!(entry(&store, m.id).await, abandoned, "unchanged");
}

/// Every mark of a message that is not `processing` (queued, or unknown) is `NotFound` and
/// changes nothing.
pub async fn outbox_marks_need_a_processing_message(store: Arc<dyn Store>) {
    let m = message(&email("queued"), EmailKind::VerifyEmail, T0);
    enqueue(&store, std::slice::from_ref(&m)).await;
    let t1 = T0 + Duration::seconds(1);
    let unknown = EmailId::new_v7(T0);
    for id in [m.id, unknown] {
        let what = if id == m.id { "queued" } else { "unknown" };
        let r = store.mark_email_sent(id, t1).await;
        assert!(
            is_not_found(&r),
            "mark_email_sent of a {what} message: {r:?}"
        );
        let r = store.mark_email_dropped(id, t1).await;
        assert!(
            is_not_found(&r),
            "mark_email_dropped of a {what} message: {r:?}"
        );
        let r = store.mark_email_failed(id, "x", Some(t1), t1).await;
        assert!(
            is_not_found(&r),
            "mark_email_failed of a {what} message: {r:?}"
        );
        let r = store.mark_email_failed(id, "x", None, t1).await;
        assert!(
            is_not_found(&r),
            "mark_email_failed of a {what} message: {r:?}"
        );
    }
    assert_eq!(
        entries(&store).await,
        [queued_entry(&m)],
        "nothing changed, nothing created"
    );
}

// ---------------------------------------------------------------------------------------------
// prepare_email

/// `prepare_email` of a processing message inserts the token (consumable) and replaces the
/// payload and locale that the next claim returns (`None` clears the locale); a duplicate token
/// hash is `Conflict(Other)` and changes nothing; a message that is not processing (queued,
/// unknown) is `NotFound` and the token is not inserted.
pub async fn outbox_prepare_email_stores_the_token_and_payload(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let m = message(&u.email, EmailKind::PasswordReset, T0);
    enqueue(&store, std::slice::from_ref(&m)).await;
    let payload = EmailPayload::new(format!("prepared-{}", unique()));

    let early = new_token(&u, TokenPurpose::PasswordReset, token_hash("early"));
    let r = store
        .prepare_email(m.id, &early, &payload, Some(&locale("de")), T0)
        .await;
    assert!(
        is_not_found(&r),
        "preparing a queued message: NotFound, got {r:?}"
    );
    let r = store
        .prepare_email(EmailId::new_v7(T0), &early, &payload, None, T0)
        .await;
    assert!(
        is_not_found(&r),
        "preparing an unknown message: NotFound, got {r:?}"
    );
    assert!(
        !token_stored(&store, &early).await,
        "a refused prepare_email inserts no token"
    );
    assert_eq!(
        entries(&store).await,
        [queued_entry(&m)],
        "a refused prepare_email changes nothing"
    );

    assert_eq!(ids(&claim(&store, T0, 10).await), [m.id]);
    let tok = new_token(&u, TokenPurpose::PasswordReset, token_hash("prepared"));
    let t1 = T0 + Duration::seconds(1);
    store
        .prepare_email(m.id, &tok, &payload, Some(&locale("de-CH")), t1)
        .await
        .expect("prepare_email");
    let clash = EmailPayload::new("clash");
    let r = store.prepare_email(m.id, &tok, &clash, None, t1).await;
    assert!(
        is_conflict(&r, Conflict::Other),
        "a duplicate token hash is Conflict(Other), got {r:?}"
    );

    let retry_at = T0 + Duration::minutes(1);
    store
        .mark_email_failed(m.id, "timeout", Some(retry_at), t1)
        .await
        .expect("mark_email_failed");
    let again = claim(&store, retry_at, 10).await;
    let prepared = NewEmail {
        payload: payload.clone(),
        locale: Some(locale("de-CH")),
        ..m.clone()
    };
    assert_eq!(ids(&again), [m.id]);
    assert_claimed(
        &again[0],
        &prepared,
        2,
        "the next claim sees the prepared payload and locale (not the refused ones)",
    );
    let consumed = store
        .consume_token(&tok.hash, TokenPurpose::PasswordReset, retry_at)
        .await
        .expect("consume_token")
        .expect("prepare_email inserted the token");
    assert_eq!(consumed.user_id, u.id);
    assert_eq!(consumed.email, u.email);

    let tok2 = new_token(&u, TokenPurpose::PasswordReset, token_hash("cleared"));
    let payload2 = EmailPayload::new(format!("cleared-{}", unique()));
    store
        .prepare_email(m.id, &tok2, &payload2, None, retry_at)
        .await
        .expect("prepare_email");
    let retry2 = retry_at + Duration::minutes(1);
    store
        .mark_email_failed(m.id, "timeout", Some(retry2), retry_at)
        .await
        .expect("mark_email_failed");
    let third = claim(&store, retry2, 10).await;
    let cleared = NewEmail {
        payload: payload2,
        locale: None,
        ..m.clone()
    };
    assert_eq!(ids(&third), [m.id]);
    assert_claimed(&third[0], &cleared, 3, "a None locale clears it");
}

// ---------------------------------------------------------------------------------------------
// counts, listing, requeue, purge

/// Six messages queued at `T0 + 0..6` s, in the statuses `[sent, dropped, abandoned,
/// processing, queued, queued]`: the first four claimed at `T0 + 3 s`, three of them marked at
/// `T0 + 10 s`.
async fn mixed(store: &Arc<dyn Store>) -> Vec<NewEmail> {
    let all = messages(6, T0);
    enqueue(store, &all).await;
    let claimed = claim(store, T0 + Duration::seconds(3), 10).await;
    assert_eq!(ids(&claimed), new_ids(&all[..4]), "the four due ones");
    let t = T0 + Duration::seconds(10);
    store
        .mark_email_sent(all[0].id, t)
        .await
        .expect("mark_email_sent");
    store
        .mark_email_dropped(all[1].id, t)
        .await
        .expect("mark_email_dropped");
    store
        .mark_email_failed(all[2].id, "refused", None, t)
        .await
        .expect("mark_email_failed");
    all
}

/// `outbox_counts` counts the messages in each status (all zero for an empty outbox).
pub async fn outbox_counts_count_each_status(store: Arc<dyn Store>) {
    assert_eq!(
        counts(&store).await,
        OutboxCounts::default(),
        "empty outbox"
    );
    mixed(&store).await;
    assert_eq!(
        counts(&store).await,
        OutboxCounts {
            queued: 2,
            processing: 1,
            sent: 1,
            dropped: 1,
            abandoned: 1,
        }
    );
}

/// `list_outbox` lists oldest first (id ascending), only the asked status, at most `limit`.
pub async fn outbox_list_filters_orders_and_limits(store: Arc<dyn Store>) {
    assert!(entries(&store).await.is_empty(), "empty outbox");
    let all = mixed(&store).await;
    let t = T0 + Duration::seconds(10);
    let claimed_at = T0 + Duration::seconds(3);
    let expected = vec![
        OutboxEntry {
            status: OutboxStatus::Sent,
            attempts: 1,
            updated_at: t,
            ..queued_entry(&all[0])
        },
        OutboxEntry {
            status: OutboxStatus::Dropped,
            attempts: 1,
            updated_at: t,
            ..queued_entry(&all[1])
        },
        OutboxEntry {
            status: OutboxStatus::Abandoned,
            attempts: 1,
            last_error: Some("refused".to_owned()),
            updated_at: t,
            ..queued_entry(&all[2])
        },
        OutboxEntry {
            status: OutboxStatus::Processing,
            attempts: 1,
            updated_at: claimed_at,
            ..queued_entry(&all[3])
        },
        queued_entry(&all[4]),
        queued_entry(&all[5]),
    ];
    let by_id = by_id(expected);
    assert_eq!(entries(&store).await, by_id, "every message, id ascending");
    assert_eq!(
        store.list_outbox(None, 2).await.expect("list_outbox"),
        by_id[..2],
        "at most limit"
    );
    assert!(
        store
            .list_outbox(None, 0)
            .await
            .expect("list_outbox")
            .is_empty(),
        "limit 0 lists nothing"
    );
    for status in OutboxStatus::ALL {
        let want: Vec<OutboxEntry> = by_id
            .iter()
            .filter(|e| e.status == status)
            .cloned()
            .collect();
        assert_eq!(
            store
                .list_outbox(Some(status), 100)
                .await
                .expect("list_outbox"),
            want,
            "only {status} messages"
        );
    }
    assert_eq!(
        store
            .list_outbox(Some(OutboxStatus::Queued), 1)
            .await
            .expect("list_outbox"),
        [queued_entry(&all[4])],
        "a status and a limit: the oldest of that status"
    );
}

/// `requeue_emails` queues `abandoned` messages again (those named, or all when none is
/// named): `attempts = 0`, due at `now`, `last_error` kept, payload kept; other statuses are
/// left alone; it returns how many.
pub async fn outbox_requeue_emails_requeues_abandoned_only(store: Arc<dyn Store>) {
    let all = messages(5, T0);
    enqueue(&store, &all).await;
    // a, b, c abandoned after two attempts; d sent; e queued.
    let now = T0 + Duration::seconds(5);
    assert_eq!(claim(&store, now, 4).await.len(), 4);
    let retry = now + Duration::seconds(1);
    for m in &all[..3] {
        store
            .mark_email_failed(m.id, "down", Some(retry), now)
            .await
            .expect("mark_email_failed");
    }
    assert_eq!(claim(&store, retry, 10).await.len(), 4, "a, b, c and e");
    let t1 = retry + Duration::seconds(1);
    for m in &all[..3] {
        store
            .mark_email_failed(m.id, "refused", None, t1)
            .await
            .expect("mark_email_failed");
    }
    store
        .mark_email_sent(all[3].id, t1)
        .await
        .expect("mark_email_sent");
    store
        .mark_email_failed(all[4].id, "down", Some(t1), t1)
        .await
        .expect("mark_email_failed");
    let (a, b, c, d, e) = (&all[0], &all[1], &all[2], &all[3], &all[4]);
    let before_d = entry(&store, d.id).await;
    let before_e = entry(&store, e.id).await;

    let t2 = t1 + Duration::minutes(1);
    let n = store
        .requeue_emails(&[a.id, d.id, e.id, EmailId::new_v7(T0)], t2)
        .await
        .expect("requeue_emails");
    assert_eq!(n, 1, "only the named abandoned message");
    assert_eq!(
        entry(&store, a.id).await,
        OutboxEntry {
            status: OutboxStatus::Queued,
            attempts: 0,
            next_attempt_at: t2,
            last_error: Some("refused".to_owned()),
            updated_at: t2,
            ..queued_entry(a)
        },
        "queued, attempts reset, due now, last error kept"
    );
    assert_eq!(entry(&store, d.id).await, before_d, "a sent message stays");
    assert_eq!(entry(&store, e.id).await, before_e, "a queued one too");
    assert_eq!(
        entry(&store, b.id).await.status,
        OutboxStatus::Abandoned,
        "an unnamed one stays abandoned"
    );

    let got = claim(&store, t2, 10).await;
    assert_eq!(
        ids(&got),
        [e.id, a.id],
        "the requeued message is claimable again (after e, due earlier)"
    );
    assert_claimed(&got[1], a, 1, "the requeued message keeps its payload");

    let t3 = t2 + Duration::minutes(1);
    let n = store.requeue_emails(&[], t3).await.expect("requeue_emails");
    assert_eq!(n, 2, "no ids: every abandoned message (b and c)");
    for m in [b, c] {
        let listed = entry(&store, m.id).await;
        assert_eq!(
            (listed.status, listed.attempts, listed.next_attempt_at),
            (OutboxStatus::Queued, 0, t3)
        );
    }
    assert_eq!(
        store.requeue_emails(&[], t3).await.expect("requeue_emails"),
        0,
        "nothing left to requeue"
    );
}

/// `purge_outbox` deletes the `sent` and `dropped` messages last changed before `before`
/// (strictly), nothing else, and returns how many.
pub async fn outbox_purge_deletes_old_delivered_messages(store: Arc<dyn Store>) {
    let all = messages(6, T0);
    enqueue(&store, &all).await;
    let now = T0 + Duration::seconds(10);
    assert_eq!(claim(&store, now, 5).await.len(), 5);
    let t1 = T0 + Duration::minutes(1);
    let t3 = T0 + Duration::minutes(3);
    // sent at t1, dropped at t1, sent at t3, abandoned at t1, processing; the last one queued.
    store.mark_email_sent(all[0].id, t1).await.expect("sent");
    store
        .mark_email_dropped(all[1].id, t1)
        .await
        .expect("dropped");
    store.mark_email_sent(all[2].id, t3).await.expect("sent");
    store
        .mark_email_failed(all[3].id, "refused", None, t1)
        .await
        .expect("failed");

    let listed = |v: Vec<OutboxEntry>| v.into_iter().map(|e| e.id).collect::<BTreeSet<_>>();
    let n = store.purge_outbox(t1).await.expect("purge_outbox");
    assert_eq!(n, 0, "updated_at = before is not before");
    let n = store
        .purge_outbox(T0 + Duration::minutes(2))
        .await
        .expect("purge_outbox");
    assert_eq!(n, 2, "the sent and dropped messages of t1");
    assert_eq!(
        listed(entries(&store).await),
        [all[2].id, all[3].id, all[4].id, all[5].id].into(),
        "abandoned, processing and queued ones stay, and newer ones"
    );
    let n = store
        .purge_outbox(t3 + Duration::microseconds(1))
        .await
        .expect("purge_outbox");
    assert_eq!(n, 1, "the sent message of t3");
    let n = store
        .purge_outbox(T0 + Duration::days(365))
        .await
        .expect("purge_outbox");
    assert_eq!(n, 0, "never an undelivered message");
    assert_eq!(
        listed(entries(&store).await),
        [all[3].id, all[4].id, all[5].id].into()
    );
}

// ---------------------------------------------------------------------------------------------
// atomic mail

/// `enqueue_mail` writes its token and messages together or not at all: a message id repeated
/// in the batch or already stored is `Conflict(Id)`, a stored token hash `Conflict(Other)`, and
/// then neither the token nor any message is written.
pub async fn outbox_enqueue_mail_is_atomic(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let m = message(&u.email, EmailKind::VerifyEmail, T0);
    let tok = new_token(&u, TokenPurpose::VerifyEmail, token_hash("batch"));

    let other = message(&u.email, EmailKind::PasswordChanged, T0);
    let r = store
        .enqueue_mail(&mail(Some(tok.clone()), &[other, m.clone(), m.clone()]))
        .await;
    assert!(
        is_conflict(&r, Conflict::Id),
        "an id twice in the batch: Conflict(Id), got {r:?}"
    );
    assert_eq!(total(&store).await, 0, "no message written");
    assert!(!token_stored(&store, &tok).await, "no token written");

    store
        .enqueue_mail(&mail(Some(tok.clone()), std::slice::from_ref(&m)))
        .await
        .expect("enqueue_mail");
    assert_eq!(total(&store).await, 1);

    let tok2 = new_token(&u, TokenPurpose::VerifyEmail, token_hash("batch2"));
    let fresh = message(&u.email, EmailKind::PasswordChanged, T0);
    let r = store
        .enqueue_mail(&mail(Some(tok2.clone()), &[fresh.clone(), m.clone()]))
        .await;
    assert!(
        is_conflict(&r, Conflict::Id),
        "a stored id: Conflict(Id), got {r:?}"
    );
    assert!(!token_stored(&store, &tok2).await, "no token written");

    let same_hash = NewOneTimeToken {
        purpose: TokenPurpose::PasswordReset,
        ..tok.clone()
    };
    let r = store
        .enqueue_mail(&mail(Some(same_hash), std::slice::from_ref(&fresh)))
        .await;
    assert!(
        is_conflict(&r, Conflict::Other),
        "a stored token hash: Conflict(Other), got {r:?}"
    );
    assert_eq!(
        entries(&store).await,
        [queued_entry(&m)],
        "only the accepted batch is stored"
    );
    assert!(token_stored(&store, &tok).await, "with its token");
    store
        .enqueue_mail(&QueuedMail::none())
        .await
        .expect("an empty mail is fine");
    assert_eq!(total(&store).await, 1);
}

/// `create_user_audited` writes the user and its mail as `create_user` does. When it says the
/// event was appended (`audited`), the store holds exactly that event, once; a store that did
/// not append it holds none. A refused creation (a taken email) appends nothing.
pub async fn create_user_audited_appends_the_event_once(store: Arc<dyn Store>) {
    let event = |n: u64, user: UserId| AuditEvent {
        id: uuid::Uuid::from_u128(0x018c_0000_0000_7000_8000_0000_0002_0000 + u128::from(n)),
        at: T0,
        event: "register".to_owned(),
        user_id: Some(user),
        actor_id: Some(user),
        ip: Some("192.0.2.7".parse().unwrap()),
        user_agent: Some("suite".to_owned()),
        detail: serde_json::json!({ "n": n }),
    };
    let new = new_user(
        &email("audited-user"),
        &["user", "user", "no-such-role"],
        T0,
    );
    let tok = token_for(new.id, &new.email, TokenPurpose::VerifyEmail);
    let first = message(&new.email, EmailKind::VerifyEmail, T0);
    let second = message(
        &new.email,
        EmailKind::PasswordChanged,
        T0 + Duration::seconds(1),
    );
    let created = store
        .create_user_audited(
            &new,
            &mail(Some(tok.clone()), &[first.clone(), second.clone()]),
            &event(1, new.id),
        )
        .await
        .expect("create_user_audited");
    assert_eq!(
        created.value,
        read_user(&store, new.id).await,
        "the user as stored"
    );
    assert_eq!(created.value.roles, ["user"], "known roles, once each");
    assert!(token_stored(&store, &tok).await, "its token");
    assert_eq!(
        by_id(entries(&store).await),
        by_id(vec![queued_entry(&first), queued_entry(&second)]),
        "its messages"
    );
    let events = store.audit_of_user(new.id, 10).await.unwrap();
    if created.audited {
        assert_eq!(events, [event(1, new.id)], "exactly the event, once");
    } else {
        assert_eq!(events, [], "not appended: the caller appends it");
    }

    let again = new_user(&new.email, &["user"], T0 + Duration::seconds(2));
    let r = store
        .create_user_audited(&again, &QueuedMail::none(), &event(2, again.id))
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict(Conflict::Email))),
        "a taken email: Conflict(Email), got {r:?}"
    );
    assert_eq!(
        store.audit_of_user(again.id, 10).await.unwrap(),
        [],
        "a refused user: no event"
    );
    assert_eq!(
        store.audit_of_user(new.id, 10).await.unwrap(),
        events,
        "the first user's events unchanged"
    );
}

/// `create_user` writes its mail (token and messages) with the user; when the user is refused
/// (a taken email) nothing of the mail is written, and when the mail is refused (a stored
/// message id: `Conflict(Id)`; a stored token hash: `Conflict(Other)`) the user is not created.
pub async fn create_user_writes_its_mail_atomically(store: Arc<dyn Store>) {
    let new = new_user(&email("mailed"), &["user"], T0);
    let tok = token_for(new.id, &new.email, TokenPurpose::VerifyEmail);
    let m = message(&new.email, EmailKind::VerifyEmail, T0);
    store
        .create_user(&new, &mail(Some(tok.clone()), std::slice::from_ref(&m)))
        .await
        .expect("create_user");
    assert_eq!(
        entries(&store).await,
        [queued_entry(&m)],
        "the message is queued"
    );

    let again = new_user(&new.email, &["user"], T0 + Duration::seconds(1));
    let tok2 = token_for(again.id, &again.email, TokenPurpose::VerifyEmail);
    let m2 = message(&again.email, EmailKind::VerifyEmail, T0);
    let r = store
        .create_user(&again, &mail(Some(tok2.clone()), std::slice::from_ref(&m2)))
        .await;
    assert!(
        is_conflict(&r, Conflict::Email),
        "a taken email: Conflict(Email), got {r:?}"
    );
    assert!(
        !token_stored(&store, &tok2).await,
        "no token of a refused user"
    );

    let third = new_user(&email("third"), &["user"], T0);
    let tok3 = token_for(third.id, &third.email, TokenPurpose::VerifyEmail);
    let reused = NewEmail {
        to: third.email.clone(),
        ..m.clone()
    };
    let r = store
        .create_user(&third, &mail(Some(tok3.clone()), &[reused]))
        .await;
    assert!(
        is_conflict(&r, Conflict::Id),
        "a stored message id: Conflict(Id), got {r:?}"
    );
    assert!(!token_stored(&store, &tok3).await, "no token");

    let fourth = new_user(&email("fourth"), &["user"], T0);
    let stolen = NewOneTimeToken {
        user_id: fourth.id,
        email: fourth.email.clone(),
        ..tok.clone()
    };
    let m4 = message(&fourth.email, EmailKind::VerifyEmail, T0);
    let r = store
        .create_user(&fourth, &mail(Some(stolen), std::slice::from_ref(&m4)))
        .await;
    assert!(
        is_conflict(&r, Conflict::Other),
        "a stored token hash: Conflict(Other), got {r:?}"
    );
    for refused in [&third, &fourth] {
        assert_eq!(
            store.user_by_id(refused.id).await.expect("user_by_id"),
            None,
            "a user whose mail is refused is not created"
        );
    }
    assert_eq!(
        entries(&store).await,
        [queued_entry(&m)],
        "only the first user's message"
    );
    let consumed = store
        .consume_token(&tok.hash, TokenPurpose::VerifyEmail, T0)
        .await
        .expect("consume_token")
        .expect("the first user's token was written");
    assert_eq!(consumed.user_id, new.id);
}

/// `update_profile` writes its mail when the change applies, and none of it when the user is
/// unknown or deleted (`NotFound`) or the email is taken (`Conflict(Email)`).
pub async fn update_profile_writes_its_mail_only_when_it_applies(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let moved = email("moved");
    let t1 = T0 + Duration::minutes(1);
    let tok = token_for(u.id, &moved, TokenPurpose::VerifyEmail);
    let notice = message(&u.email, EmailKind::EmailChanged, t1);
    let verify = message(&moved, EmailKind::VerifyEmail, t1);
    store
        .update_profile(
            u.id,
            &change_email(&moved),
            t1,
            &mail(Some(tok.clone()), &[notice.clone(), verify.clone()]),
        )
        .await
        .expect("update_profile");
    assert_eq!(
        entries(&store).await,
        by_id(vec![queued_entry(&notice), queued_entry(&verify)]),
        "both messages are queued"
    );
    assert!(token_stored(&store, &tok).await, "and the token is stored");

    let gone = user(&store).await;
    store
        .soft_delete_user(gone.id, t1)
        .await
        .expect("soft_delete_user");
    let taken = user(&store).await;
    let t2 = t1 + Duration::minutes(1);
    let cases: [(UserId, ProfilePatch, &str); 3] = [
        (UserId::new_v7(T0), rename(Some("Ghost")), "an unknown user"),
        (gone.id, rename(Some("Ghost")), "a deleted user"),
        (u.id, change_email(&taken.email), "a taken email"),
    ];
    for (id, patch, what) in cases {
        let tok = token_for(u.id, &u.email, TokenPurpose::VerifyEmail);
        let m = message(&u.email, EmailKind::EmailChanged, t2);
        let r = store
            .update_profile(id, &patch, t2, &mail(Some(tok.clone()), &[m]))
            .await;
        assert!(r.is_err(), "{what}: refused, got {r:?}");
        assert_eq!(total(&store).await, 2, "{what}: no message written");
        assert!(
            !token_stored(&store, &tok).await,
            "{what}: no token written"
        );
    }
}

/// `set_password` writes its mail when the change applies, and none of it when the user is
/// unknown or deleted (`NotFound`).
pub async fn set_password_writes_its_mail_only_when_it_applies(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let t1 = T0 + Duration::minutes(1);
    let notice = message(&u.email, EmailKind::PasswordChanged, t1);
    store
        .set_password(
            u.id,
            &fresh_hash(),
            None,
            t1,
            &mail(None, std::slice::from_ref(&notice)),
        )
        .await
        .expect("set_password");
    assert_eq!(
        entries(&store).await,
        [queued_entry(&notice)],
        "the notice is queued"
    );

    let gone = user(&store).await;
    store
        .soft_delete_user(gone.id, t1)
        .await
        .expect("soft_delete_user");
    for (id, what) in [
        (UserId::new_v7(T0), "an unknown user"),
        (gone.id, "a deleted user"),
    ] {
        let tok = token_for(u.id, &u.email, TokenPurpose::VerifyEmail);
        let m = message(&u.email, EmailKind::PasswordChanged, t1);
        let r = store
            .set_password(id, &fresh_hash(), None, t1, &mail(Some(tok.clone()), &[m]))
            .await;
        assert!(
            matches!(r, Err(StoreError::NotFound)),
            "{what}: NotFound, got {r:?}"
        );
        assert_eq!(total(&store).await, 1, "{what}: no message written");
        assert!(
            !token_stored(&store, &tok).await,
            "{what}: no token written"
        );
    }
}

/// `reset_password_with_token` writes its mail only when it resets: an unknown, wrongly
/// purposed, expired or spent token, or a deleted user's, writes none of it.
pub async fn reset_password_with_token_writes_its_mail_only_when_it_resets(store: Arc<dyn Store>) {
    let u = user(&store).await;
    let t1 = T0 + Duration::minutes(1);
    let notice = |to: &Email| message(to, EmailKind::PasswordChanged, t1);
    let verify = token(&store, &u, TokenPurpose::VerifyEmail).await;
    let expired = token(&store, &u, TokenPurpose::PasswordReset).await;
    let gone = user(&store).await;
    let gone_reset = token(&store, &gone, TokenPurpose::PasswordReset).await;
    store
        .soft_delete_user(gone.id, T0)
        .await
        .expect("soft_delete_user");
    let cases = [
        (token_hash("unknown"), t1, "an unknown token"),
        (verify.hash, t1, "a verification token"),
        (expired.hash, T0 + Duration::minutes(31), "an expired token"),
        (gone_reset.hash, t1, "a deleted user's token"),
    ];
    for (hash, at, what) in cases {
        let r = store
            .reset_password_with_token(&hash, &fresh_hash(), at, &mail(None, &[notice(&u.email)]))
            .await
            .expect("reset_password_with_token");
        assert!(r.is_none(), "{what}: None, got {r:?}");
        assert_eq!(total(&store).await, 0, "{what}: no message written");
    }

    let good = token(&store, &u, TokenPurpose::PasswordReset).await;
    let sent = notice(&u.email);
    let reset = store
        .reset_password_with_token(
            &good.hash,
            &fresh_hash(),
            t1,
            &mail(None, std::slice::from_ref(&sent)),
        )
        .await
        .expect("reset_password_with_token");
    assert_eq!(reset.map(|r| r.id), Some(u.id), "a good token resets");
    assert_eq!(
        entries(&store).await,
        [queued_entry(&sent)],
        "the notice is queued"
    );

    let r = store
        .reset_password_with_token(
            &good.hash,
            &fresh_hash(),
            t1,
            &mail(None, &[notice(&u.email)]),
        )
        .await
        .expect("reset_password_with_token");
    assert!(r.is_none(), "a spent token: None");
    assert_eq!(total(&store).await, 1, "a spent token: no message written");
}

// ---------------------------------------------------------------------------------------------
// locale

/// A user's locale round-trips through `create_user`, `user_by_id`, `credentials_by_email`,
/// `credentials_by_id` and `list_users`; `update_profile` sets it (`Some(Some)`), leaves it
/// (`None`) and clears it (`Some(None)`).
pub async fn user_locale_round_trips(store: Arc<dyn Store>) {
    let domain = format!("{}.io", unique());
    let address = Email::parse(&format!("loc@{domain}")).expect("a valid email");
    let mut new = new_user(&address, &["user"], T0);
    new.locale = Some(locale("pt-BR"));
    let created = store
        .create_user(&new, &QueuedMail::none())
        .await
        .expect("create_user");
    assert_eq!(
        created.locale,
        Some(locale("pt-BR")),
        "create_user returns it"
    );
    assert_same_everywhere(&store, &created, &domain).await;

    let set = |l: Option<&str>| ProfilePatch {
        locale: Some(l.map(locale)),
        ..ProfilePatch::default()
    };
    let t1 = T0 + Duration::minutes(1);
    let changed = store
        .update_profile(created.id, &set(Some("de-CH")), t1, &QueuedMail::none())
        .await
        .expect("update_profile");
    assert_eq!(
        changed,
        User {
            locale: Some(locale("de-CH")),
            updated_at: t1,
            ..created.clone()
        },
        "Some(Some) sets it, nothing else"
    );
    assert_same_everywhere(&store, &changed, &domain).await;

    let t2 = t1 + Duration::minutes(1);
    let renamed = store
        .update_profile(created.id, &rename(Some("Loc")), t2, &QueuedMail::none())
        .await
        .expect("update_profile");
    assert_eq!(renamed.locale, Some(locale("de-CH")), "None leaves it");
    assert_same_everywhere(&store, &renamed, &domain).await;

    let t3 = t2 + Duration::minutes(1);
    let cleared = store
        .update_profile(created.id, &set(None), t3, &QueuedMail::none())
        .await
        .expect("update_profile");
    assert_eq!(
        cleared,
        User {
            locale: None,
            updated_at: t3,
            ..renamed.clone()
        },
        "Some(None) clears it"
    );
    assert_same_everywhere(&store, &cleared, &domain).await;
}

/// Every way of reading `user` back shows it as it is (the only user of `domain`).
async fn assert_same_everywhere(store: &Arc<dyn Store>, user: &User, domain: &str) {
    assert_eq!(&read_user(store, user.id).await, user, "user_by_id");
    let by_email = store
        .credentials_by_email(&user.email)
        .await
        .expect("credentials_by_email")
        .expect("a live user");
    assert_eq!(&by_email.user, user, "credentials_by_email");
    let by_id = store
        .credentials_by_id(user.id)
        .await
        .expect("credentials_by_id")
        .expect("a live user");
    assert_eq!(&by_id.user, user, "credentials_by_id");
    let page = store
        .list_users(&UserQuery {
            email_contains: Some(domain.to_owned()),
            limit: 10,
            ..UserQuery::default()
        })
        .await
        .expect("list_users");
    assert_eq!(page.items, std::slice::from_ref(user), "list_users");
}

// ---------------------------------------------------------------------------------------------
// concurrency

/// Eight workers claiming concurrently (each claiming 3 at a time until nothing is left) over
/// 60 due messages claim each exactly once, all at their first attempt.
pub async fn concurrent_claims_take_each_message_once(store: Arc<dyn Store>) {
    let all: Vec<NewEmail> = (0..60)
        .map(|i| {
            message(
                &email("crowd"),
                EmailKind::PasswordChanged,
                T0 + Duration::milliseconds(i),
            )
        })
        .collect();
    enqueue(&store, &all).await;
    let now = T0 + Duration::minutes(1);
    let mut workers = JoinSet::new();
    for _ in 0..8 {
        let store = Arc::clone(&store);
        workers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim_emails(now, now + LEASE, 3)
                    .await
                    .expect("claim_emails");
                if got.is_empty() {
                    return mine;
                }
                assert!(got.len() <= 3, "at most the limit");
                mine.extend(got);
                tokio::task::yield_now().await;
            }
        });
    }
    let mut claimed = Vec::new();
    while let Some(mine) = workers.join_next().await {
        claimed.extend(mine.expect("worker"));
    }
    let mut seen = BTreeSet::new();
    for c in &claimed {
        assert!(seen.insert(c.id), "message {} claimed twice", c.id);
        assert_eq!(c.attempts, 1, "claimed once, so at its first attempt");
    }
    assert_eq!(
        seen,
        new_ids(&all).into_iter().collect::<BTreeSet<_>>(),
        "every message claimed exactly once"
    );
    assert_eq!(
        counts(&store).await,
        OutboxCounts {
            processing: 60,
            ..OutboxCounts::default()
        }
    );
}
