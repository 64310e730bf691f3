-- Issue 21: the apps issued tokens for each user sign-in session (sid),
-- told by OpenID Connect Back-Channel Logout 1.0 when it ends
-- (store.SessionClients). A row goes when its session ends (taken for
-- sending) or when the janitor finds it older than any token it covers.
CREATE TABLE session_clients (
	session_id TEXT    NOT NULL,
	client_id  TEXT    NOT NULL,
	subject    TEXT    NOT NULL,
	seen_at    INTEGER NOT NULL,
	PRIMARY KEY (session_id, client_id)
) STRICT;
CREATE INDEX session_clients_seen ON session_clients (seen_at);
