-- authkit schema, version 5 (SQLite): a refresh hash that is replaced is recorded as spent by a
-- trigger, so that `rotate_refresh` is one autocommit `UPDATE ... RETURNING` (SQLite runs a
-- statement and its triggers atomically). PostgreSQL needs no migration: it records the spent
-- hash in the rotation's statement (a data-modifying `WITH`).
--
-- The row is the one the rotation wrote before version 5, with the same conflict rule: the
-- hash being replaced and its session; a hash already recorded keeps its row. An `UPDATE` that
-- leaves the hash unchanged records nothing.

CREATE TRIGGER authkit_sessions_refresh_spent_trg
AFTER UPDATE OF refresh_hash ON authkit_sessions
FOR EACH ROW WHEN OLD.refresh_hash IS NOT NEW.refresh_hash
BEGIN
    INSERT INTO authkit_spent_refresh_tokens (hash, session_id)
    VALUES (OLD.refresh_hash, OLD.id)
    ON CONFLICT (hash) DO NOTHING;
END;
