-- kkoji hub schema, part 5: what a buildroot contained (host.setBuildRootList /
-- updateBuildRootList, read by `koji list-buildroot`), and tag notifications builders report.

CREATE TABLE buildroot_listing (
    buildroot_id INTEGER NOT NULL REFERENCES buildroot (id),
    rpm_id INTEGER NOT NULL REFERENCES rpminfo (id),
    -- added after the buildroot was first populated (updateBuildRootList)
    is_update BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (buildroot_id, rpm_id)
);
CREATE INDEX buildroot_listing_by_rpm ON buildroot_listing (rpm_id);

-- A tag operation's outcome as reported by a builder (host.tagNotification). kkoji sends no
-- mail; the record is what an admin (and a later notification feature) reads.
CREATE TABLE tag_notification (
    id SERIAL PRIMARY KEY,
    is_successful BOOLEAN NOT NULL,
    tag_id INTEGER REFERENCES tag (id),
    from_id INTEGER REFERENCES tag (id),
    build_id INTEGER NOT NULL REFERENCES build (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    failure_msg TEXT NOT NULL DEFAULT '',
    host_id INTEGER NOT NULL REFERENCES host (id),
    create_time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
