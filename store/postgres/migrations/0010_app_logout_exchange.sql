-- Issue 21: where an app receives back-channel logout tokens (OpenID
-- Connect Back-Channel Logout 1.0; "" for none), whether every token names
-- the session, and whether the app may exchange tokens (RFC 8693).
ALTER TABLE apps ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN backchannel_logout_sid BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE apps ADD COLUMN token_exchange BOOLEAN NOT NULL DEFAULT false;
