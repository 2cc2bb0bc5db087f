-- kkoji hub schema, part 6: comps groups per tag (what `groups/comps.xml` of a tag's repos
-- is made of, and what mock installs a buildroot from: the `build` / `srpm-build` groups).
-- Versioned like the other tag content (see 0001_core.sql); a blocked row hides the entry
-- of the same name inherited from a parent tag. Names follow Koji's schema, so that history
-- queries name the same tables.

-- A group's name is the comps group id.
CREATE TABLE groups (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 50)
);

CREATE TABLE group_config (
    group_id INTEGER NOT NULL REFERENCES groups (id),
    tag_id INTEGER NOT NULL REFERENCES tag (id),
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    exported BOOLEAN DEFAULT TRUE,
    display_name TEXT NOT NULL,
    is_default BOOLEAN,
    uservisible BOOLEAN,
    description TEXT,
    langonly TEXT,
    biarchonly BOOLEAN,
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (group_id, tag_id, active)
);
CREATE INDEX group_config_by_tag ON group_config (tag_id);

-- One group requiring another (comps `groupreq` / `metapkg`).
CREATE TABLE group_req_listing (
    group_id INTEGER NOT NULL REFERENCES groups (id),
    tag_id INTEGER NOT NULL REFERENCES tag (id),
    req_id INTEGER NOT NULL REFERENCES groups (id),
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    type TEXT CHECK (length(type) <= 25),
    is_metapkg BOOLEAN NOT NULL DEFAULT FALSE,
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (group_id, tag_id, req_id, active)
);
CREATE INDEX group_req_listing_by_tag ON group_req_listing (tag_id);

-- A package in a group: an RPM name (not a row of `package`, which names source packages).
CREATE TABLE group_package_listing (
    group_id INTEGER NOT NULL REFERENCES groups (id),
    tag_id INTEGER NOT NULL REFERENCES tag (id),
    package TEXT NOT NULL,
    blocked BOOLEAN NOT NULL DEFAULT FALSE,
    type TEXT NOT NULL CHECK (length(type) <= 25),
    basearchonly BOOLEAN,
    requires TEXT,
    create_event BIGINT NOT NULL REFERENCES events (id),
    revoke_event BIGINT REFERENCES events (id),
    creator_id INTEGER REFERENCES users (id),
    revoker_id INTEGER REFERENCES users (id),
    active BOOLEAN DEFAULT TRUE CHECK (active),
    UNIQUE (group_id, tag_id, package, active)
);
CREATE INDEX group_package_listing_by_tag ON group_package_listing (tag_id);
