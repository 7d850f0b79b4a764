-- authkit schema, version 4 (SQLite): abuse limits shared by every instance on one database.
--
-- Times are integer milliseconds since the Unix epoch (the unit of the limits' rules, unlike
-- the microseconds of the other tables). Both tables are written by one atomic upsert per
-- request and hold no foreign keys: a key is a client address or a hash of an email, which need
-- not belong to an account.

-- Request rate limits (GCRA): `tat_ms` is the bucket's "theoretical arrival time"; the bucket
-- is full again (and the row useless) once `tat_ms <= now`.
CREATE TABLE authkit_rate_limits (
    key    TEXT    NOT NULL,
    tat_ms INTEGER NOT NULL,
    CONSTRAINT authkit_rate_limits_pkey PRIMARY KEY (key)
) STRICT;

-- purge_rate_limits: the buckets that are full again.
CREATE INDEX authkit_rate_limits_tat_idx ON authkit_rate_limits (tat_ms);

-- Consecutive failed password checks per account key, and when the last attempt was made.
CREATE TABLE authkit_password_failures (
    key             TEXT    NOT NULL,
    failures        INTEGER NOT NULL,
    last_attempt_ms INTEGER NOT NULL,
    CONSTRAINT authkit_password_failures_pkey PRIMARY KEY (key),
    CONSTRAINT authkit_password_failures_failures_check CHECK (failures >= 0)
) STRICT;

-- purge_password_failures: counts by the age of their last attempt.
CREATE INDEX authkit_password_failures_last_attempt_idx
    ON authkit_password_failures (last_attempt_ms);
