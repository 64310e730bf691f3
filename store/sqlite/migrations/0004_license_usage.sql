-- The open-session count kept as a counter (store.Usage), so OpenSession
-- and the gauges read one row instead of counting every open session:
-- with 100,000 open sessions a count is a scan on every first call.
--
-- Triggers keep it, so every statement that opens or ends a session
-- (OpenSession's upsert, EndSession, EndStaleSessions' single UPDATE)
-- counts in its own transaction, whatever code issued it. SQLite has one
-- writer at a time, so the counter never sees two changes at once.

CREATE TABLE license_usage (
	id            INTEGER PRIMARY KEY CHECK (id = 1),
	open          INTEGER NOT NULL, -- sessions with ended_at IS NULL
	open_reserved INTEGER NOT NULL  -- of those, reserved = 1
) STRICT;

INSERT INTO license_usage (id, open, open_reserved)
	SELECT 1, count(*), coalesce(sum(reserved), 0) FROM sessions WHERE ended_at IS NULL;

CREATE TRIGGER sessions_usage_insert AFTER INSERT ON sessions
	WHEN NEW.ended_at IS NULL
BEGIN
	UPDATE license_usage SET open = open + 1, open_reserved = open_reserved + NEW.reserved;
END;

-- (x IS NULL) is 0 or 1, so the difference is the change in "open".
CREATE TRIGGER sessions_usage_update AFTER UPDATE OF ended_at, reserved ON sessions
BEGIN
	UPDATE license_usage SET
		open = open + (NEW.ended_at IS NULL) - (OLD.ended_at IS NULL),
		open_reserved = open_reserved
			+ (NEW.ended_at IS NULL AND NEW.reserved = 1)
			- (OLD.ended_at IS NULL AND OLD.reserved = 1);
END;

CREATE TRIGGER sessions_usage_delete AFTER DELETE ON sessions
	WHEN OLD.ended_at IS NULL
BEGIN
	UPDATE license_usage SET open = open - 1, open_reserved = open_reserved - OLD.reserved;
END;
