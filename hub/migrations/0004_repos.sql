-- kkoji hub schema, part 4: buildroot repos, the repo request queue and what is known of
-- external repos upstream (issue "Repos"). Shapes follow Koji 1.35+.

CREATE TABLE repo (
    id SERIAL PRIMARY KEY,
    creation_time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    -- the tag content of the repo is the tag as of this event
    create_event BIGINT NOT NULL REFERENCES events (id),
    tag_id INTEGER NOT NULL REFERENCES tag (id),
    -- INIT=0 READY=1 EXPIRED=2 DELETED=3 PROBLEM=4
    state INTEGER NOT NULL DEFAULT 0,
    state_time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    dist BOOLEAN NOT NULL DEFAULT FALSE,
    -- repo options (src, debuginfo, separate_src, maven), XML-RPC encoded structs
    opts TEXT NOT NULL,
    custom_opts TEXT NOT NULL,
    task_id INTEGER REFERENCES task (id),
    -- the last change of the tag at or before create_event; the first change after it
    begin_event BIGINT REFERENCES events (id),
    end_event BIGINT REFERENCES events (id),
    -- why the repo went to PROBLEM (kkoji)
    problem TEXT
);
CREATE INDEX repo_by_tag ON repo (tag_id, state);
CREATE INDEX repo_by_task ON repo (task_id);

CREATE TABLE repo_queue (
    id SERIAL PRIMARY KEY,
    create_time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    owner INTEGER REFERENCES users (id),
    priority INTEGER NOT NULL,
    tag_id INTEGER NOT NULL REFERENCES tag (id),
    at_event BIGINT,
    min_event BIGINT,
    opts TEXT NOT NULL,
    update_time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    task_id INTEGER REFERENCES task (id),
    tries INTEGER NOT NULL DEFAULT 0,
    repo_id INTEGER REFERENCES repo (id)
);
CREATE INDEX repo_queue_active ON repo_queue (tag_id) WHERE active;

-- What kkoji-repo-regen last saw upstream (e.g. {'max_ts': N}); a new row is a change of
-- every tag using the external repo.
CREATE TABLE external_repo_data (
    external_repo_id INTEGER NOT NULL REFERENCES external_repo (id),
    data TEXT NOT NULL,
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (external_repo_id, active)
);

CREATE INDEX buildroot_by_repo ON buildroot (repo_id) WHERE retire_event IS NULL;
