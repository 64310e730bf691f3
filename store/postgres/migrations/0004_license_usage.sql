-- The open-session count kept as a counter on license_lock's one row
-- (store.Usage), so OpenSession and the gauges read one row instead of
-- counting every open session: with 100,000 open sessions a count is a
-- scan of the open-session index on every first call.
--
-- A trigger keeps it, so every statement that opens or ends a session
-- counts in its own transaction, whoever issued it (a replica, the CLI,
-- an older binary). Its UPDATE takes the row's lock, which the store's
-- transactions that open or end sessions take first (see
-- Store.OpenSession for why).

-- No session may change while the counter is set up, or the first count
-- would miss it: this lock waits for writers in flight and holds new
-- ones until the migration commits.
LOCK TABLE sessions IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE license_lock
	ADD COLUMN open_sessions integer NOT NULL DEFAULT 0,
	ADD COLUMN open_reserved integer NOT NULL DEFAULT 0;

UPDATE license_lock SET
	open_sessions = (SELECT count(*) FROM sessions WHERE ended_at IS NULL),
	open_reserved = (SELECT count(*) FROM sessions WHERE ended_at IS NULL AND reserved)
WHERE id = 1;

-- The table is named through TG_TABLE_SCHEMA, so the counter of this
-- schema moves whatever search_path the writing session has.
CREATE FUNCTION erpgate_count_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	d_open     integer := 0;
	d_reserved integer := 0;
BEGIN
	IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.ended_at IS NULL THEN
		d_open := d_open + 1;
		d_reserved := d_reserved + NEW.reserved::integer;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.ended_at IS NULL THEN
		d_open := d_open - 1;
		d_reserved := d_reserved - OLD.reserved::integer;
	END IF;
	IF d_open <> 0 OR d_reserved <> 0 THEN
		EXECUTE format('UPDATE %I.license_lock SET open_sessions = open_sessions + $1,
			open_reserved = open_reserved + $2 WHERE id = 1', TG_TABLE_SCHEMA)
			USING d_open, d_reserved;
	END IF;
	RETURN NULL;
END
$$;

-- UPDATE OF: a last-seen time moving (every flush) does not fire it.
CREATE TRIGGER sessions_counted AFTER INSERT OR DELETE OR UPDATE OF ended_at, reserved ON sessions
	FOR EACH ROW EXECUTE FUNCTION erpgate_count_sessions();
