-- kkoji hub schema, part 2: tasks, scheduling, builds, RPMs, tag listings.

CREATE TABLE task (
    id SERIAL PRIMARY KEY,
    state INTEGER NOT NULL DEFAULT 0,
    create_time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    start_time TIMESTAMPTZ,
    completion_time TIMESTAMPTZ,
    -- when the scheduler assigned it (AssignTimeout runs from here)
    assign_time TIMESTAMPTZ,
    channel_id INTEGER NOT NULL REFERENCES channels (id),
    host_id INTEGER REFERENCES host (id),
    parent INTEGER REFERENCES task (id),
    label TEXT,
    waiting BOOLEAN,
    awaited BOOLEAN,
    owner INTEGER NOT NULL REFERENCES users (id),
    method TEXT NOT NULL,
    -- the stored methodCall XML of the task's parameters, returned verbatim
    request TEXT NOT NULL,
    -- the builder's methodResponse or fault XML, verbatim
    result TEXT,
    arch TEXT NOT NULL,
    priority INTEGER NOT NULL,
    weight DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    UNIQUE (parent, label)
);
CREATE INDEX task_free ON task (priority, create_time) WHERE state = 0;
CREATE INDEX task_active_by_host ON task (host_id) WHERE state IN (1, 4);
CREATE INDEX task_by_parent ON task (parent);

-- A host's refusal of a task: the scheduler does not offer the task to it again
-- (soft refusals expire).
CREATE TABLE task_refusals (
    task_id INTEGER NOT NULL REFERENCES task (id),
    host_id INTEGER NOT NULL REFERENCES host (id),
    soft BOOLEAN NOT NULL,
    msg TEXT,
    time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (task_id, host_id)
);

-- What the builder reported at its last check-in: maxjobs, handled methods, and a
-- human-readable status ("not ready: load average 5.20 > capacity 4.0").
ALTER TABLE host ADD COLUMN data TEXT;
ALTER TABLE host ADD COLUMN status TEXT;

CREATE TABLE build (
    id SERIAL PRIMARY KEY,
    pkg_id INTEGER NOT NULL REFERENCES package (id),
    version TEXT NOT NULL,
    release TEXT NOT NULL,
    epoch INTEGER,
    draft BOOLEAN NOT NULL DEFAULT FALSE,
    state INTEGER NOT NULL,
    task_id INTEGER REFERENCES task (id),
    owner INTEGER NOT NULL REFERENCES users (id),
    create_event BIGINT NOT NULL REFERENCES events (id),
    start_time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    completion_time TIMESTAMPTZ,
    source TEXT,
    extra TEXT,
    UNIQUE (pkg_id, version, release)
);
CREATE INDEX build_by_task ON build (task_id);

CREATE TABLE rpminfo (
    id SERIAL PRIMARY KEY,
    build_id INTEGER REFERENCES build (id),
    buildroot_id INTEGER,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    release TEXT NOT NULL,
    epoch INTEGER,
    arch TEXT NOT NULL,
    external_repo_id INTEGER NOT NULL DEFAULT 0,
    payloadhash TEXT NOT NULL,
    size BIGINT NOT NULL,
    buildtime BIGINT NOT NULL,
    metadata_only BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (name, version, release, arch, external_repo_id)
);
CREATE INDEX rpminfo_by_build ON rpminfo (build_id);

CREATE TABLE tag_listing (
    build_id INTEGER NOT NULL REFERENCES build (id),
    tag_id INTEGER NOT NULL REFERENCES tag (id),
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (build_id, tag_id, active)
);
CREATE INDEX tag_listing_by_tag ON tag_listing (tag_id) WHERE active;
