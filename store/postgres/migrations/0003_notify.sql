-- Change notifications, so replicas learn of each other's writes at
-- once instead of at their next poll (SPEC §9: "refused by every other
-- within one second"). Every write that another replica must act on
-- sends NOTIFY erpgate_changes with the payload 'topic:schema': the
-- topic says what to reload (Store.Listen), the schema which erpgate it
-- is, since LISTEN is per database and replicas of different erpgates
-- may share one. They are triggers, so every writer notifies: a replica,
-- `erpgate sessions end`, an older binary.
--
-- A notification is delivered when its transaction commits, and
-- PostgreSQL folds identical ones of one transaction into one, so a
-- sweep ending a thousand sessions sends one. Row triggers with WHEN
-- fire only for rows that change what others see: a session ending
-- (not a last-seen time moving), a revocation recorded or extended, a
-- key added or removed, an app created or changed.

CREATE FUNCTION erpgate_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('erpgate_changes', TG_ARGV[0] || ':' || TG_TABLE_SCHEMA);
	RETURN NULL;
END
$$;

CREATE TRIGGER signing_keys_changed AFTER INSERT OR DELETE ON signing_keys
	FOR EACH ROW EXECUTE FUNCTION erpgate_notify_change('keys');

-- A tombstone is inserted ended; an open session ends by an update.
CREATE TRIGGER sessions_ended_insert AFTER INSERT ON sessions
	FOR EACH ROW WHEN (NEW.ended_at IS NOT NULL) EXECUTE FUNCTION erpgate_notify_change('sessions');
CREATE TRIGGER sessions_ended_update AFTER UPDATE ON sessions
	FOR EACH ROW WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL) EXECUTE FUNCTION erpgate_notify_change('sessions');

CREATE TRIGGER revocations_changed AFTER INSERT OR UPDATE ON revocations
	FOR EACH ROW EXECUTE FUNCTION erpgate_notify_change('revocations');

CREATE TRIGGER apps_changed AFTER INSERT OR UPDATE ON apps
	FOR EACH ROW EXECUTE FUNCTION erpgate_notify_change('apps');
