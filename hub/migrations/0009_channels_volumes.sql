-- Storage volumes: a build's files live under <topdir>/vol/<name>/packages/… (DEFAULT is the
-- topdir itself). A build moved off DEFAULT keeps a symlink at its usual place.
CREATE TABLE volume (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
INSERT INTO volume (id, name) VALUES (0, 'DEFAULT');

ALTER TABLE build ADD COLUMN volume_id INTEGER NOT NULL DEFAULT 0 REFERENCES volume (id);
