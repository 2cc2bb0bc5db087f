-- Session validation asks "does this user have an open exclusive session?" on every call
-- that is not served from the session cache; answer it from an index, not a scan of all the
-- user's sessions.
CREATE INDEX sessions_exclusive_by_user ON sessions (user_id) WHERE exclusive AND NOT closed;
