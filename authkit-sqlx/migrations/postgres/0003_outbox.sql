-- authkit schema, version 3 (PostgreSQL): the email outbox and the users' email language.
--
-- Messages are written in the same transaction as the change they announce and delivered later
-- by the worker, which claims due ones with a lease (`locked_until`) under
-- `FOR UPDATE SKIP LOCKED`, so that workers on several instances never hold one message at once.

-- The language of the user's emails (a normalized BCP 47 tag such as `pt-BR`); NULL uses the
-- configured default.
ALTER TABLE authkit_users ADD COLUMN locale text;

-- `payload` (what delivery needs; it may carry a one-time link) is erased when the message is
-- `sent` or `dropped`, and only then (`authkit_outbox_payload_check`). `kind` has no CHECK, so
-- that a new kind of message needs no migration; the store refuses a kind it does not know
-- when reading.
CREATE TABLE authkit_outbox (
    id              uuid        NOT NULL,
    kind            text        NOT NULL,
    recipient       text        NOT NULL,
    locale          text,
    payload         text,
    status          text        NOT NULL DEFAULT 'queued',
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT authkit_outbox_pkey PRIMARY KEY (id),
    CONSTRAINT authkit_outbox_status_check
        CHECK (status IN ('queued', 'processing', 'sent', 'dropped', 'abandoned')),
    CONSTRAINT authkit_outbox_attempts_check CHECK (attempts >= 0),
    CONSTRAINT authkit_outbox_payload_check
        CHECK ((payload IS NULL) = (status IN ('sent', 'dropped')))
);

-- claim_emails: the due messages, oldest first. Only queued and processing messages are ever
-- claimed, and they are few next to the delivered history: a partial index.
CREATE INDEX authkit_outbox_due_idx ON authkit_outbox (status, next_attempt_at, id)
    WHERE status IN ('queued', 'processing');
-- list_outbox(status), requeue_emails and outbox_counts (the primary key serves the unfiltered
-- listing).
CREATE INDEX authkit_outbox_status_idx ON authkit_outbox (status, id);
-- purge_outbox: delivered messages by age.
CREATE INDEX authkit_outbox_done_idx ON authkit_outbox (updated_at)
    WHERE status IN ('sent', 'dropped');
