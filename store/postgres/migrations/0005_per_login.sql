-- Per-login rules of SPEC §5, mirroring store/sqlite's 0005.
--
-- 1. Reserved seats per login. sessions.reserved now means "holds its
-- login's reserved seat", and a login holds at most one seat at a time:
-- OpenSession grants the seat only when no other open session of the
-- subject holds it (store.Session.Reserved), under the counter row's
-- lock. Before, reserved marked every session of a reserved login, so a
-- schema may hold several open seat holders of one subject: the oldest
-- keeps the seat, the others move to shared slots. The UPDATE OF
-- reserved fires the counter trigger of 0004, so
-- license_lock.open_reserved follows.
--
-- The counter row is locked first, as every transaction of the store
-- that opens or ends sessions does (store/postgres OpenSession), then
-- the table, so no session opens between the fix and the index: a
-- replica still running the previous erpgate would otherwise be able to
-- add a second seat holder and fail the index build. Such a replica,
-- after this migration, gets a unique violation where it would give a
-- login a second seat, until it is upgraded.
SELECT 1 FROM license_lock WHERE id = 1 FOR UPDATE;
LOCK TABLE sessions IN SHARE ROW EXCLUSIVE MODE;

UPDATE sessions AS s SET reserved = false
WHERE s.reserved AND s.ended_at IS NULL AND EXISTS (
	SELECT 1 FROM sessions AS o
	WHERE o.subject = s.subject AND o.reserved AND o.ended_at IS NULL
		AND (o.opened_at < s.opened_at OR o.opened_at = s.opened_at AND o.id < s.id)
);

-- The rule in the schema, and the index OpenSession's seat check reads.
CREATE UNIQUE INDEX sessions_reserved_seat ON sessions (subject) WHERE reserved AND ended_at IS NULL;

-- 2. Reference tokens' sessions are of their own kind
-- (store.SessionReference), reopenable however they ended. Sessions
-- opened before were stored as user or service sessions; their sid
-- ("enrt-" + token id) says what they are. Tombstones (kind '') stay as
-- they are: their sid decides.
UPDATE sessions SET kind = 'reference' WHERE starts_with(id, 'enrt-') AND kind IN ('user', 'service');

-- 3. A password change ends every live identity session of the user
-- (store.IdentitySessions.EndSubjectIdentitySessions).
CREATE INDEX identity_sessions_subject ON identity_sessions (subject) WHERE ended_at IS NULL;
