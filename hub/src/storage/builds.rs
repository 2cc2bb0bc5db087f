//! Builds, their RPMs, and tagging (`tag_listing`, versioned).

use super::{Conn, Page, Paged, Result, Stamp, load_value, ver};
use chrono::{DateTime, Utc};
use koji_protocol::Value;
use sqlx::Row;

/// Build states (Koji's BUILD_STATES).
pub mod state {
    pub const BUILDING: i32 = 0;
    pub const COMPLETE: i32 = 1;
    pub const DELETED: i32 = 2;
    pub const FAILED: i32 = 3;
    pub const CANCELED: i32 = 4;
}

#[derive(Debug, Clone)]
pub struct Build {
    pub id: i32,
    pub package_id: i32,
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<i32>,
    pub draft: bool,
    pub state: i32,
    pub task_id: Option<i32>,
    pub owner_id: i32,
    pub owner_name: String,
    pub create_event: i64,
    pub creation_time: DateTime<Utc>,
    pub start_time: DateTime<Utc>,
    pub completion_time: Option<DateTime<Utc>>,
    pub source: Option<String>,
    /// Nil when the build has none.
    pub extra: Value,
    /// The storage volume its files are on (0, DEFAULT: the topdir).
    pub volume_id: i32,
    pub volume_name: String,
}

impl Build {
    pub fn nvr(&self) -> String {
        format!("{}-{}-{}", self.name, self.version, self.release)
    }
}

const BUILD_SELECT: &str = "SELECT b.id, b.pkg_id, p.name, b.version, b.release, b.epoch, b.draft, b.state, \
    b.task_id, b.owner, u.name AS owner_name, b.create_event, e.time AS creation_time, b.start_time, \
    b.completion_time, b.source, b.extra, b.volume_id, v.name AS volume_name FROM build b \
    JOIN package p ON p.id = b.pkg_id JOIN users u ON u.id = b.owner \
    JOIN events e ON e.id = b.create_event JOIN volume v ON v.id = b.volume_id";

fn build(r: &sqlx::postgres::PgRow) -> Result<Build> {
    let extra: Option<String> = r.try_get("extra")?;
    Ok(Build {
        id: r.try_get("id")?,
        package_id: r.try_get("pkg_id")?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        release: r.try_get("release")?,
        epoch: r.try_get("epoch")?,
        draft: r.try_get("draft")?,
        state: r.try_get("state")?,
        task_id: r.try_get("task_id")?,
        owner_id: r.try_get("owner")?,
        owner_name: r.try_get("owner_name")?,
        create_event: r.try_get("create_event")?,
        creation_time: r.try_get("creation_time")?,
        start_time: r.try_get("start_time")?,
        completion_time: r.try_get("completion_time")?,
        source: r.try_get("source")?,
        extra: extra.as_deref().map(load_value).unwrap_or(Value::Nil),
        volume_id: r.try_get("volume_id")?,
        volume_name: r.try_get("volume_name")?,
    })
}

pub async fn get(db: &mut Conn, id: i32) -> Result<Option<Build>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{BUILD_SELECT} WHERE b.id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(build)
    .transpose()
}

pub async fn by_nvr(
    db: &mut Conn,
    name: &str,
    version: &str,
    release: &str,
) -> Result<Option<Build>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{BUILD_SELECT} WHERE p.name = $1 AND b.version = $2 AND b.release = $3"
    )))
    .bind(name)
    .bind(version)
    .bind(release)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(build)
    .transpose()
}

/// What `listBuilds` filters on.
#[derive(Debug, Default)]
pub struct BuildFilter {
    pub package: Option<i32>,
    pub owner: Option<i32>,
    /// A task id; -1: any build made by a task.
    pub task: Option<i32>,
    /// An ILIKE pattern for the package name.
    pub like: Option<String>,
    pub state: Option<i32>,
    pub volume: Option<i32>,
    /// ILIKE patterns for the source and the NVR.
    pub source: Option<String>,
    pub nvr: Option<String>,
    pub created_before: Option<DateTime<Utc>>,
    pub created_after: Option<DateTime<Utc>>,
    pub complete_before: Option<DateTime<Utc>>,
    pub complete_after: Option<DateTime<Utc>>,
    /// Filters no build here can pass (a draft, promoted or maven build): the answer is
    /// empty, counted and paged as any other.
    pub none: bool,
}

/// What `listBuilds` may be ordered by: the answer's field, the SQL expression.
pub const BUILD_ORDER: &[(&str, &str)] = &[
    ("id", "b.id"),
    ("build_id", "b.id"),
    ("nvr", "p.name, b.version, b.release"),
    ("name", "p.name"),
    ("package_name", "p.name"),
    ("completion_time", "b.completion_time"),
    ("creation_time", "b.create_event"),
    ("state", "b.state"),
];

pub async fn list(db: &mut Conn, f: &BuildFilter, page: &Page) -> Result<Paged<Build>> {
    let sql = page.sql(
        &format!(
            "{BUILD_SELECT} WHERE ($1::int IS NULL OR b.pkg_id = $1) AND ($2::int IS NULL OR b.owner = $2) \
             AND ($3::int IS NULL OR ($3 = -1 AND b.task_id IS NOT NULL) OR b.task_id = $3) \
             AND ($4::text IS NULL OR p.name ILIKE $4) \
             AND ($5::int IS NULL OR b.state = $5) AND ($6::int IS NULL OR b.volume_id = $6) \
             AND ($7::text IS NULL OR b.source ILIKE $7) \
             AND ($8::text IS NULL OR p.name || '-' || b.version || '-' || b.release ILIKE $8) \
             AND ($9::timestamptz IS NULL OR e.time < $9) AND ($10::timestamptz IS NULL OR e.time > $10) \
             AND ($11::timestamptz IS NULL OR b.completion_time < $11) \
             AND ($12::timestamptz IS NULL OR b.completion_time > $12) AND NOT $13"
        ),
        "b.id",
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(f.package)
        .bind(f.owner)
        .bind(f.task)
        .bind(f.like.clone())
        .bind(f.state)
        .bind(f.volume)
        .bind(f.source.clone())
        .bind(f.nvr.clone())
        .bind(f.created_before)
        .bind(f.created_after)
        .bind(f.complete_before)
        .bind(f.complete_after)
        .bind(f.none);
    page.fetch(db, q, build).await
}

/// COMPLETE builds tagged in one tag as of `event` (optionally of one package), newest
/// tagging first.
pub async fn tagged(
    db: &mut Conn,
    tag: i32,
    event: Option<i64>,
    package: Option<&str>,
) -> Result<Vec<Build>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{BUILD_SELECT} JOIN tag_listing tl ON tl.build_id = b.id JOIN tag tg ON tg.id = tl.tag_id \
         WHERE tl.tag_id = $1 AND {} AND ($2::text IS NULL OR p.name = $2) AND b.state = $3 \
         ORDER BY tl.create_event DESC, b.id DESC",
        ver("tl", event)
    )))
    .bind(tag)
    .bind(package)
    .bind(state::COMPLETE)
    .fetch_all(db)
    .await?;
    rows.iter().map(build).collect()
}

/// (id, state) of the build with this NVR, by package id.
pub async fn id_and_state(
    db: &mut Conn,
    package: i32,
    version: &str,
    release: &str,
) -> Result<Option<(i32, i32)>> {
    sqlx::query_as(
        "SELECT id, state FROM build WHERE pkg_id = $1 AND version = $2 AND release = $3",
    )
    .bind(package)
    .bind(version)
    .bind(release)
    .fetch_optional(db)
    .await
}

/// A new BUILDING build; returns its id.
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    db: &mut Conn,
    package: i32,
    version: &str,
    release: &str,
    epoch: Option<i32>,
    task: i32,
    owner: i32,
    event: i64,
    source: Option<&str>,
) -> Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO build (pkg_id, version, release, epoch, state, task_id, owner, create_event, source) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(package)
    .bind(version)
    .bind(release)
    .bind(epoch)
    .bind(state::BUILDING)
    .bind(task)
    .bind(owner)
    .bind(event)
    .bind(source)
    .fetch_one(db)
    .await
}

/// A failed or canceled build starts again under the same NVR: BUILDING for a new task,
/// its RPMs forgotten.
pub async fn restart(
    db: &mut Conn,
    id: i32,
    task: i32,
    owner: i32,
    epoch: Option<i32>,
    event: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE build SET state = $6, task_id = $2, owner = $3, epoch = $4, create_event = $5, \
         start_time = clock_timestamp(), completion_time = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(task)
    .bind(owner)
    .bind(epoch)
    .bind(event)
    .bind(state::BUILDING)
    .execute(&mut *db)
    .await?;
    sqlx::query("DELETE FROM rpminfo WHERE build_id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Move a BUILDING build to `new_state` (COMPLETE, FAILED, CANCELED) and stamp its
/// completion; with `task`, only a build of that task. False when no such BUILDING build.
pub async fn finish(db: &mut Conn, id: i32, task: Option<i32>, new_state: i32) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE build SET state = $3, completion_time = clock_timestamp() \
         WHERE id = $1 AND ($2::int IS NULL OR task_id = $2) AND state = $4",
    )
    .bind(id)
    .bind(task)
    .bind(new_state)
    .bind(state::BUILDING)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// An imported build is COMPLETE.
pub async fn complete(db: &mut Conn, id: i32) -> Result<()> {
    sqlx::query("UPDATE build SET state = $2, completion_time = clock_timestamp() WHERE id = $1")
        .bind(id)
        .bind(state::COMPLETE)
        .execute(db)
        .await?;
    Ok(())
}

/// BUILDING builds of these tasks become CANCELED.
pub async fn cancel_of_tasks(db: &mut Conn, tasks: &[i32]) -> Result<()> {
    sqlx::query(
        "UPDATE build SET state = $2, completion_time = clock_timestamp() WHERE task_id = ANY($1) AND state = $3",
    )
    .bind(tasks)
    .bind(state::CANCELED)
    .bind(state::BUILDING)
    .execute(db)
    .await?;
    Ok(())
}

/// Mean seconds from creation to completion of a package's COMPLETE builds that had a
/// task, over the last `months` months if given.
pub async fn average_duration(
    db: &mut Conn,
    package: i32,
    months: Option<i32>,
) -> Result<Option<f64>> {
    sqlx::query_scalar(
        "SELECT extract(epoch FROM avg(b.completion_time - e.time))::float8 FROM build b \
         JOIN events e ON e.id = b.create_event \
         WHERE b.pkg_id = $1 AND b.state = $3 AND b.task_id IS NOT NULL \
           AND ($2::int IS NULL OR b.completion_time > now() - make_interval(months => $2))",
    )
    .bind(package)
    .bind(months)
    .bind(state::COMPLETE)
    .fetch_one(db)
    .await
}

/// The release of the newest BUILDING, COMPLETE or DELETED non-draft build of name-version.
pub async fn latest_release(db: &mut Conn, name: &str, version: &str) -> Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT b.release FROM build b JOIN package p ON p.id = b.pkg_id \
         WHERE p.name = $1 AND b.version = $2 AND b.state = ANY($3) AND NOT b.draft \
         ORDER BY b.id DESC LIMIT 1",
    )
    .bind(name)
    .bind(version)
    .bind([state::BUILDING, state::COMPLETE, state::DELETED])
    .fetch_optional(db)
    .await
}

/// Whether the build is tagged in the tag now.
pub async fn is_tagged(db: &mut Conn, build: i32, tag: i32) -> Result<bool> {
    let already: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM tag_listing WHERE build_id = $1 AND tag_id = $2 AND active",
    )
    .bind(build)
    .bind(tag)
    .fetch_optional(db)
    .await?;
    Ok(already.is_some())
}

pub async fn tag(db: &mut Conn, build: i32, tag: i32, s: Stamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO tag_listing (build_id, tag_id, create_event, creator_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(build)
    .bind(tag)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// The build leaves a tag (its tagging is revoked).
pub async fn untag(db: &mut Conn, build: i32, tag: i32, s: Stamp) -> Result<u64> {
    super::revoke(
        db,
        "tag_listing",
        "build_id = $3 AND tag_id = $4",
        &[build, tag],
        s,
    )
    .await
}

/// An RPM: of a build, or (with an external repo id) one a buildroot got from outside.
#[derive(Debug, Clone)]
pub struct Rpm {
    pub id: i32,
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<i32>,
    pub arch: String,
    pub payloadhash: String,
    pub size: i64,
    pub buildtime: i64,
    pub build_id: Option<i32>,
    pub buildroot_id: Option<i32>,
    pub external_repo_id: i32,
    pub metadata_only: bool,
}

const RPM_COLUMNS: &str = "r.id, r.name, r.version, r.release, r.epoch, r.arch, r.payloadhash, \
    r.size, r.buildtime, r.build_id, r.buildroot_id, r.external_repo_id, r.metadata_only";

fn rpm(r: &sqlx::postgres::PgRow) -> Result<Rpm> {
    Ok(Rpm {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        release: r.try_get("release")?,
        epoch: r.try_get("epoch")?,
        arch: r.try_get("arch")?,
        payloadhash: r.try_get("payloadhash")?,
        size: r.try_get("size")?,
        buildtime: r.try_get("buildtime")?,
        build_id: r.try_get("build_id")?,
        buildroot_id: r.try_get("buildroot_id")?,
        external_repo_id: r.try_get("external_repo_id")?,
        metadata_only: r.try_get("metadata_only")?,
    })
}

pub async fn rpm_by_id(db: &mut Conn, id: i32) -> Result<Option<Rpm>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RPM_COLUMNS} FROM rpminfo r WHERE r.id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(rpm)
    .transpose()
}

pub async fn rpm_by_nvra(
    db: &mut Conn,
    name: &str,
    version: &str,
    release: &str,
    arch: &str,
) -> Result<Option<Rpm>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RPM_COLUMNS} FROM rpminfo r WHERE r.name = $1 AND r.version = $2 AND r.release = $3 AND r.arch = $4"
    )))
    .bind(name)
    .bind(version)
    .bind(release)
    .bind(arch)
    .fetch_optional(db)
    .await?
    .as_ref()
    .map(rpm)
    .transpose()
}

/// An RPM as `listRPMs` shows it: with its repo's name, and whether a buildroot got it as
/// an update.
#[derive(Debug, Clone)]
pub struct ListedRpm {
    pub rpm: Rpm,
    pub external_repo_name: String,
    pub is_update: Option<bool>,
}

/// What `listRPMs` may be ordered by.
pub const RPM_ORDER: &[(&str, &str)] = &[
    ("id", "r.id"),
    ("name", "r.name"),
    ("arch", "r.arch"),
    ("nvr", "r.name, r.version, r.release"),
    ("build_id", "r.build_id"),
    ("size", "r.size"),
];

/// RPMs of a build, of a buildroot, or in a buildroot's package list, with some arches.
pub async fn list_rpms(
    db: &mut Conn,
    build: Option<i32>,
    buildroot: Option<i32>,
    arches: Option<&[String]>,
    component_of: Option<i32>,
    page: &Page,
) -> Result<Paged<ListedRpm>> {
    let sql = page.sql(
        &format!(
            "SELECT {RPM_COLUMNS}, COALESCE(er.name, 'INTERNAL') AS external_repo_name, bl.is_update \
             FROM rpminfo r LEFT JOIN external_repo er ON er.id = r.external_repo_id \
             LEFT JOIN buildroot_listing bl ON bl.rpm_id = r.id AND bl.buildroot_id = $4 \
             WHERE ($1::int IS NULL OR r.build_id = $1) AND ($2::int IS NULL OR r.buildroot_id = $2) \
               AND ($3::text[] IS NULL OR r.arch = ANY($3)) \
               AND ($4::int IS NULL OR bl.buildroot_id IS NOT NULL)"
        ),
        "r.id",
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(build)
        .bind(buildroot)
        .bind(arches.map(<[String]>::to_vec))
        .bind(component_of);
    page.fetch(db, q, |r| {
        Ok(ListedRpm {
            rpm: rpm(r)?,
            external_repo_name: r.try_get("external_repo_name")?,
            is_update: r.try_get("is_update")?,
        })
    })
    .await
}

/// RPMs of these builds (with some arches), by id.
pub async fn rpms_of_builds(
    db: &mut Conn,
    builds: &[i32],
    arches: Option<&[String]>,
) -> Result<Vec<Rpm>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {RPM_COLUMNS} FROM rpminfo r \
         WHERE r.build_id = ANY($1) AND ($2::text[] IS NULL OR r.arch = ANY($2)) ORDER BY r.id"
    )))
    .bind(builds)
    .bind(arches)
    .fetch_all(db)
    .await?;
    rows.iter().map(rpm).collect()
}

/// (build, name, version, release, arch) of the internal RPMs of these builds, by name and
/// arch (what a repo lists).
pub async fn internal_rpm_files(
    db: &mut Conn,
    builds: &[i32],
) -> Result<Vec<(i32, String, String, String, String)>> {
    sqlx::query_as(
        "SELECT build_id, name, version, release, arch FROM rpminfo WHERE build_id = ANY($1) \
         AND external_repo_id = 0 ORDER BY name, arch",
    )
    .bind(builds)
    .fetch_all(db)
    .await
}

/// What an imported RPM file is, as read from its header.
pub struct NewRpm<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub release: &'a str,
    pub epoch: Option<i32>,
    pub arch: &'a str,
    pub payloadhash: &'a str,
    pub size: i64,
    pub buildtime: i64,
}

/// An RPM of a build.
pub async fn insert_build_rpm(db: &mut Conn, build: i32, r: &NewRpm<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO rpminfo (build_id, name, version, release, epoch, arch, payloadhash, size, buildtime) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(build)
    .bind(r.name)
    .bind(r.version)
    .bind(r.release)
    .bind(r.epoch)
    .bind(r.arch)
    .bind(r.payloadhash)
    .bind(r.size)
    .bind(r.buildtime)
    .execute(db)
    .await?;
    Ok(())
}

/// An RPM from an external repo (a buildroot's package); returns its id.
pub async fn insert_external_rpm(db: &mut Conn, repo: i32, r: &NewRpm<'_>) -> Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO rpminfo (name, version, release, epoch, arch, external_repo_id, payloadhash, size, buildtime) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(r.name)
    .bind(r.version)
    .bind(r.release)
    .bind(r.epoch)
    .bind(r.arch)
    .bind(repo)
    .bind(r.payloadhash)
    .bind(r.size)
    .bind(r.buildtime)
    .fetch_one(db)
    .await
}

/// The id of the RPM with this NVRA from this repo (0: built here).
pub async fn rpm_id(
    db: &mut Conn,
    name: &str,
    version: &str,
    release: &str,
    arch: &str,
    repo: i32,
) -> Result<Option<i32>> {
    sqlx::query_scalar(
        "SELECT id FROM rpminfo WHERE name = $1 AND version = $2 AND release = $3 AND arch = $4 \
         AND external_repo_id = $5",
    )
    .bind(name)
    .bind(version)
    .bind(release)
    .bind(arch)
    .bind(repo)
    .fetch_optional(db)
    .await
}
