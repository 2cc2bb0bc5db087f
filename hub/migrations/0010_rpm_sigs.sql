-- RPM signatures (import-sig, write-signed-rpm, dist-repo). One row per (rpm, key): the key
-- id is the lowercase hex of the signing key's last 4 bytes as Koji stores it ('' is not a
-- key); sighash is the MD5 of the signature header bytes kept at
-- packages/<name>/<version>/<release>/data/sigcache/<sigkey>/<arch>/<nvra>.rpm.sig.
-- A signed copy written from that header lives at .../data/signed/<sigkey>/<arch>/<nvra>.rpm.
CREATE TABLE rpmsigs (
    rpm_id INTEGER NOT NULL REFERENCES rpminfo (id),
    sigkey TEXT NOT NULL CHECK (sigkey ~ '^[0-9a-f]{1,64}$'),
    sighash TEXT NOT NULL CHECK (sighash ~ '^[0-9a-f]{32}$'),
    PRIMARY KEY (rpm_id, sigkey)
);
CREATE INDEX rpmsigs_by_key ON rpmsigs (sigkey);
