-- Build notifications (add-notification & co.) and the mail they cause.
-- A subscription: a user follows a package, a tag, or both (NULL = any); success_only
-- subscriptions hear of completed builds and successful tag operations only. The address is
-- fixed when the subscription is made (<user>@<email_domain>), as Koji does.
CREATE TABLE build_notifications (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    package_id INTEGER REFERENCES package (id),
    tag_id INTEGER REFERENCES tag (id),
    success_only BOOLEAN NOT NULL DEFAULT FALSE,
    email TEXT NOT NULL
);
CREATE INDEX build_notifications_by_user ON build_notifications (user_id);

-- An opt-out: no mail to this user about this package/tag (NULL = any), whatever else
-- would have sent it (a subscription, owning the build, owning the package in the tag).
CREATE TABLE build_notifications_block (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    package_id INTEGER REFERENCES package (id),
    tag_id INTEGER REFERENCES tag (id)
);
CREATE INDEX build_notifications_block_by_user ON build_notifications_block (user_id);

-- The outbox: one row per mail, written in the transaction of the change it reports (a
-- rolled-back change queues nothing). The hub's mailer claims due rows (next_try is pushed
-- forward as a lease, so two hubs never send one row twice), sends them through the
-- configured relay and marks them. With no relay configured rows are written as 'unsent'.
CREATE TABLE notification_mail (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('build', 'tag')),
    build_id INTEGER NOT NULL REFERENCES build (id),
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- extra header lines ("X-Koji-NVR: foo-1-1"), newline separated
    headers TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'failed', 'unsent')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_try TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    create_time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    sent_time TIMESTAMPTZ
);
CREATE INDEX notification_mail_due ON notification_mail (next_try) WHERE state = 'queued';
CREATE INDEX notification_mail_by_build ON notification_mail (build_id);
