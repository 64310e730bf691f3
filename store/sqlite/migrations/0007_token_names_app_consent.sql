-- A name and a description for each reference token (the account page's
-- "My access tokens", SPEC §6 and §10), and the consent policy of
-- run-time apps (apps[].consent, SPEC §3), which the apps table could not
-- keep.
--
-- Tokens issued before this migration have no name; apps created before
-- it keep the default consent: implicit.

ALTER TABLE reference_tokens ADD COLUMN name        TEXT NOT NULL DEFAULT '';
ALTER TABLE reference_tokens ADD COLUMN description TEXT NOT NULL DEFAULT '';

ALTER TABLE apps ADD COLUMN consent_required INTEGER NOT NULL DEFAULT 0;
