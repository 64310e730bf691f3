-- Issue 19: an app created at run time chooses its sign-in as the config
-- file's apps do: the identity providers its login page offers (a JSON
-- string list of provider ids, like scopes) and whether erpgate's own
-- passwords are taken. Apps stored before keep the password form alone.
ALTER TABLE apps ADD COLUMN identity_providers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE apps ADD COLUMN local_passwords INTEGER NOT NULL DEFAULT 1;
