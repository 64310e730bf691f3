-- Issue 21: the apps issued tokens for each user sign-in session (sid),
-- told by OpenID Connect Back-Channel Logout 1.0 when it ends
-- (store.SessionClients). A row goes when its session ends (taken for
-- sending) or when the janitor finds it older than any token it covers.
CREATE TABLE session_clients (
	session_id text COLLATE "C" NOT NULL,
	client_id  text COLLATE "C" NOT NULL,
	subject    text             NOT NULL,
	seen_at    timestamptz      NOT NULL,
	PRIMARY KEY (session_id, client_id)
);
CREATE INDEX session_clients_seen ON session_clients (seen_at);
