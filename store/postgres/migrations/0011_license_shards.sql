-- The open-session counter split in shard rows (issue 22). With one
-- counter row every open and every end, of every replica, took its lock
-- until commit, so opens took turns even without a cap, each waiting for
-- the previous one's commit to reach the disk. A session now counts in
-- the shard its id hashes to, and an open or an end locks only that row;
-- an open under a cap reads the sum of the shards, and locks them all,
-- in shard order, only when the sum is within 16 of a limit (see
-- Store.OpenSession for why that keeps the cap exact).
--
-- license_lock goes: a replica of an older erpgate still running then
-- fails to open sessions (503) rather than counting on a row nobody
-- moves. Stop older replicas before the first one of this version starts.

-- No session may change while the shards are filled.
LOCK TABLE sessions IN SHARE ROW EXCLUSIVE MODE;

-- The shard of a session id: the first byte of its SHA-256, modulo 16.
-- Stable across PostgreSQL versions (hashtext is not promised to be).
CREATE FUNCTION erpgate_license_shard(id text) RETURNS smallint
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $$ SELECT (get_byte(sha256(convert_to(id, 'UTF8')), 0) % 16)::smallint $$;

CREATE TABLE license_shards (
	shard         smallint PRIMARY KEY,
	open_sessions integer  NOT NULL DEFAULT 0,
	open_reserved integer  NOT NULL DEFAULT 0
);

INSERT INTO license_shards (shard, open_sessions, open_reserved)
SELECT g.shard,
	(SELECT count(*) FROM sessions WHERE ended_at IS NULL AND erpgate_license_shard(id) = g.shard),
	(SELECT count(*) FROM sessions WHERE ended_at IS NULL AND reserved AND erpgate_license_shard(id) = g.shard)
FROM generate_series(0, 15) AS g(shard);

-- The trigger of 0004, now moving the session's shard.
CREATE OR REPLACE FUNCTION erpgate_count_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	d_open     integer := 0;
	d_reserved integer := 0;
	sid        text;
BEGIN
	IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.ended_at IS NULL THEN
		d_open := d_open + 1;
		d_reserved := d_reserved + NEW.reserved::integer;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.ended_at IS NULL THEN
		d_open := d_open - 1;
		d_reserved := d_reserved - OLD.reserved::integer;
	END IF;
	IF TG_OP = 'DELETE' THEN
		sid := OLD.id;
	ELSE
		sid := NEW.id;
	END IF;
	IF d_open <> 0 OR d_reserved <> 0 THEN
		EXECUTE format('UPDATE %I.license_shards SET open_sessions = open_sessions + $1,
			open_reserved = open_reserved + $2 WHERE shard = %I.erpgate_license_shard($3)', TG_TABLE_SCHEMA, TG_TABLE_SCHEMA)
			USING d_open, d_reserved, sid;
	END IF;
	RETURN NULL;
END
$$;

DROP TABLE license_lock;
