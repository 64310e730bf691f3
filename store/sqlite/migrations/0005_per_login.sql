-- Per-login rules of SPEC §5.
--
-- 1. Reserved seats per login. sessions.reserved now means "holds its
-- login's reserved seat", and a login holds at most one seat at a time:
-- OpenSession grants the seat only when no other open session of the
-- subject holds it (store.Session.Reserved). Before, reserved marked
-- every session of a reserved login, so a database may hold several
-- open seat holders of one subject: the oldest keeps the seat, the
-- others move to shared slots. The UPDATE OF reserved fires the counter
-- trigger of 0004, so license_usage.open_reserved follows.

UPDATE sessions SET reserved = 0
WHERE reserved = 1 AND ended_at IS NULL AND EXISTS (
	SELECT 1 FROM sessions AS o
	WHERE o.subject = sessions.subject AND o.reserved = 1 AND o.ended_at IS NULL
		AND (o.opened_at < sessions.opened_at OR o.opened_at = sessions.opened_at AND o.id < sessions.id)
);

-- The rule in the schema, and the index OpenSession's seat check reads.
CREATE UNIQUE INDEX sessions_reserved_seat ON sessions (subject) WHERE reserved = 1 AND ended_at IS NULL;

-- 2. Reference tokens' sessions are of their own kind (store.SessionReference),
-- reopenable however they ended. Sessions opened before were stored as
-- user or service sessions; their sid ("enrt-" + token id) says what
-- they are. Tombstones (kind '') stay as they are: their sid decides.
-- substr, not LIKE, which ignores case in SQLite.
UPDATE sessions SET kind = 'reference' WHERE substr(id, 1, 5) = 'enrt-' AND kind IN ('user', 'service');

-- 3. A password change ends every live identity session of the user
-- (store.IdentitySessions.EndSubjectIdentitySessions).
CREATE INDEX identity_sessions_subject ON identity_sessions (subject) WHERE ended_at IS NULL;
