-- kkoji hub schema, part 1: users, sessions, hosts, channels, tags, targets, packages,
-- external repos, events. Versioned tables follow Koji's convention: a row is current while
-- `active` is TRUE; revoking it sets `active` to NULL and fills revoke_event/revoker_id, so
-- the history stays queryable "as of" any event.

CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE permissions (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT
);

INSERT INTO permissions (name, description) VALUES
    ('admin', 'Full administrator access. Perform all actions.'),
    ('appliance', 'Create appliance builds - deprecated.'),
    ('dist-repo', 'Create a dist-repo.'),
    ('host', 'Add, remove, enable, disable hosts and channels.'),
    ('image', 'Start image tasks.'),
    ('image-import', 'Import image archives.'),
    ('livecd', 'Start livecd tasks.'),
    ('maven-import', 'Import maven archives.'),
    ('repo', 'Manage repos: newRepo, repoExpire, repoDelete, repoProblem.'),
    ('sign', 'Import RPM signatures and write signed RPMs.'),
    ('tag', 'Manage packages in tags: add, block, remove, and clone tags.'),
    ('target', 'Add, edit, and remove targets.'),
    ('win-admin', 'The default hub policy rule for "vm" requires this permission to trigger Windows builds.'),
    ('win-import', 'Import win archives.'),
    ('draft-promoter', 'The permission required in the default "draft_promotion" hub policy rule to promote draft builds.'),
    ('build', 'Submit non-scratch builds (kkoji).');

CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    status INTEGER NOT NULL DEFAULT 0,
    usertype INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE user_krb_principals (
    user_id INTEGER NOT NULL REFERENCES users (id),
    krb_principal TEXT NOT NULL UNIQUE
);

CREATE TABLE user_perms (
    user_id INTEGER NOT NULL REFERENCES users (id),
    perm_id INTEGER NOT NULL REFERENCES permissions (id),
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (user_id, perm_id, active)
);

CREATE TABLE sessions (
    id BIGSERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    key TEXT NOT NULL,
    master BIGINT REFERENCES sessions (id),
    hostip TEXT NOT NULL,
    authtype INTEGER NOT NULL,
    callnum BIGINT,
    start_time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    update_time TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    renew_time TIMESTAMPTZ,
    expired BOOLEAN NOT NULL DEFAULT FALSE,
    closed BOOLEAN NOT NULL DEFAULT FALSE,
    exclusive BOOLEAN CHECK (exclusive),
    -- at most one open exclusive session per user (NULLs do not collide)
    UNIQUE (user_id, exclusive)
);
CREATE INDEX sessions_open_by_user ON sessions (user_id) WHERE NOT closed;

CREATE TABLE channels (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    comment TEXT
);
INSERT INTO channels (name) VALUES
    ('default'), ('createrepo'), ('maven'), ('livecd'), ('appliance'), ('vm'), ('image'), ('livemedia');

CREATE TABLE host (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL UNIQUE REFERENCES users (id),
    name TEXT NOT NULL UNIQUE,
    update_time TIMESTAMPTZ,
    ready BOOLEAN NOT NULL DEFAULT FALSE,
    task_load DOUBLE PRECISION NOT NULL DEFAULT 0.0
);

CREATE TABLE host_config (
    host_id INTEGER NOT NULL REFERENCES host (id),
    arches TEXT,
    -- Koji demands > 1; kkoji allows any positive capacity so that a 1-core builder can be
    -- described honestly (capacity 1.0).
    capacity DOUBLE PRECISION NOT NULL DEFAULT 2.0 CHECK (capacity > 0),
    description TEXT,
    comment TEXT,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (host_id, active)
);

CREATE TABLE host_channels (
    host_id INTEGER NOT NULL REFERENCES host (id),
    channel_id INTEGER NOT NULL REFERENCES channels (id),
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (host_id, channel_id, active)
);

CREATE TABLE tag (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE tag_config (
    tag_id INTEGER NOT NULL REFERENCES tag (id),
    arches TEXT,
    perm_id INTEGER REFERENCES permissions (id),
    locked BOOLEAN NOT NULL DEFAULT FALSE,
    maven_support BOOLEAN NOT NULL DEFAULT FALSE,
    maven_include_all BOOLEAN NOT NULL DEFAULT FALSE,
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (tag_id, active)
);

-- values are stored XML-RPC encoded, so any type a client sends comes back unchanged
CREATE TABLE tag_extra (
    tag_id INTEGER NOT NULL REFERENCES tag (id),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (tag_id, key, active)
);

CREATE TABLE tag_inheritance (
    tag_id INTEGER NOT NULL REFERENCES tag (id),
    parent_id INTEGER NOT NULL REFERENCES tag (id),
    priority INTEGER NOT NULL,
    maxdepth INTEGER,
    intransitive BOOLEAN NOT NULL DEFAULT FALSE,
    noconfig BOOLEAN NOT NULL DEFAULT FALSE,
    pkg_filter TEXT NOT NULL DEFAULT '',
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (tag_id, parent_id, active),
    UNIQUE (tag_id, priority, active)
);

CREATE TABLE build_target (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE build_target_config (
    build_target_id INTEGER NOT NULL REFERENCES build_target (id),
    build_tag INTEGER NOT NULL REFERENCES tag (id),
    dest_tag INTEGER NOT NULL REFERENCES tag (id),
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (build_target_id, active)
);

CREATE TABLE package (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE tag_packages (
    package_id INTEGER NOT NULL REFERENCES package (id),
    tag_id INTEGER NOT NULL REFERENCES tag (id),
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    extra_arches TEXT,
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (package_id, tag_id, active)
);

CREATE TABLE tag_package_owners (
    package_id INTEGER NOT NULL REFERENCES package (id),
    tag_id INTEGER NOT NULL REFERENCES tag (id),
    owner INTEGER NOT NULL REFERENCES users (id),
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (package_id, tag_id, active)
);

CREATE TABLE external_repo (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE external_repo_config (
    external_repo_id INTEGER NOT NULL REFERENCES external_repo (id),
    url TEXT NOT NULL,
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (external_repo_id, active)
);

CREATE TABLE tag_external_repos (
    tag_id INTEGER NOT NULL REFERENCES tag (id),
    external_repo_id INTEGER NOT NULL REFERENCES external_repo (id),
    priority INTEGER NOT NULL,
    merge_mode TEXT NOT NULL DEFAULT 'koji',
    arches TEXT,
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (tag_id, priority, active),
    UNIQUE (tag_id, external_repo_id, active)
);

-- Buildroots are created by builders (tasks issue); hostinfo lists them already.
CREATE TABLE buildroot (
    id SERIAL PRIMARY KEY,
    host_id INTEGER REFERENCES host (id),
    tag_id INTEGER REFERENCES tag (id),
    repo_id INTEGER,
    arch TEXT,
    task_id INTEGER,
    state INTEGER NOT NULL DEFAULT 0,
    create_event BIGINT NOT NULL REFERENCES events (id),
    retire_event BIGINT REFERENCES events (id)
);
