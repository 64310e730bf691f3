-- Issue 19: an app created at run time chooses its sign-in as the config
-- file's apps do: the identity providers its login page offers (their
-- ids, in order) and whether erpgate's own passwords are taken. Apps
-- stored before keep the password form alone.
ALTER TABLE apps ADD COLUMN identity_providers text[] NOT NULL DEFAULT '{}';
ALTER TABLE apps ADD COLUMN local_passwords BOOLEAN NOT NULL DEFAULT true;
