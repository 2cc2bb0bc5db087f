//! Notification subscriptions, opt-outs and the mail outbox (`notification_mail`).

use super::Conn;
use sqlx::Result;

/// One row of `build_notifications`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Subscription {
    pub id: i32,
    pub user_id: i32,
    pub package_id: Option<i32>,
    pub tag_id: Option<i32>,
    pub success_only: bool,
    pub email: String,
}

/// One row of `build_notifications_block`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Block {
    pub id: i32,
    pub user_id: i32,
    pub package_id: Option<i32>,
    pub tag_id: Option<i32>,
}

pub async fn subscriptions_of(db: &mut Conn, user: i32) -> Result<Vec<Subscription>> {
    sqlx::query_as(
        "SELECT id, user_id, package_id, tag_id, success_only, email \
         FROM build_notifications WHERE user_id = $1 ORDER BY id",
    )
    .bind(user)
    .fetch_all(db)
    .await
}

pub async fn subscription(db: &mut Conn, id: i32) -> Result<Option<Subscription>> {
    sqlx::query_as(
        "SELECT id, user_id, package_id, tag_id, success_only, email \
         FROM build_notifications WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn insert_subscription(
    db: &mut Conn,
    user: i32,
    package: Option<i32>,
    tag: Option<i32>,
    success_only: bool,
    email: &str,
) -> Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO build_notifications (user_id, package_id, tag_id, success_only, email) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user)
    .bind(package)
    .bind(tag)
    .bind(success_only)
    .bind(email)
    .fetch_one(db)
    .await
}

pub async fn update_subscription(
    db: &mut Conn,
    id: i32,
    package: Option<i32>,
    tag: Option<i32>,
    success_only: bool,
) -> Result<()> {
    sqlx::query(
        "UPDATE build_notifications SET package_id = $2, tag_id = $3, success_only = $4 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(package)
    .bind(tag)
    .bind(success_only)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete_subscription(db: &mut Conn, id: i32) -> Result<()> {
    sqlx::query("DELETE FROM build_notifications WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn blocks_of(db: &mut Conn, user: i32) -> Result<Vec<Block>> {
    sqlx::query_as(
        "SELECT id, user_id, package_id, tag_id FROM build_notifications_block \
         WHERE user_id = $1 ORDER BY id",
    )
    .bind(user)
    .fetch_all(db)
    .await
}

pub async fn block(db: &mut Conn, id: i32) -> Result<Option<Block>> {
    sqlx::query_as(
        "SELECT id, user_id, package_id, tag_id FROM build_notifications_block WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn insert_block(
    db: &mut Conn,
    user: i32,
    package: Option<i32>,
    tag: Option<i32>,
) -> Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO build_notifications_block (user_id, package_id, tag_id) \
         VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(user)
    .bind(package)
    .bind(tag)
    .fetch_one(db)
    .await
}

pub async fn delete_block(db: &mut Conn, id: i32) -> Result<()> {
    sqlx::query("DELETE FROM build_notifications_block WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// A user who may hear of an event, and where.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Recipient {
    pub user_id: i32,
    pub email: String,
}

/// Subscriptions of active human users (and groups) that match a package and tag (`None`
/// tag: subscriptions that name no tag). `success` false leaves out success-only ones.
pub async fn subscribers(
    db: &mut Conn,
    package: i32,
    tag: Option<i32>,
    success: bool,
) -> Result<Vec<Recipient>> {
    sqlx::query_as(
        "SELECT n.user_id, n.email FROM build_notifications n JOIN users u ON u.id = n.user_id \
         WHERE u.status = 0 AND u.usertype IN (0, 2) \
           AND (n.package_id = $1 OR n.package_id IS NULL) \
           AND (CASE WHEN $2::INTEGER IS NULL THEN n.tag_id IS NULL \
                     ELSE n.tag_id = $2 OR n.tag_id IS NULL END) \
           AND ($3 OR NOT n.success_only) \
         ORDER BY n.id",
    )
    .bind(package)
    .bind(tag)
    .bind(success)
    .fetch_all(db)
    .await
}

/// Of `users`, those who opted out of mail about this package and tag.
pub async fn opted_out(
    db: &mut Conn,
    users: &[i32],
    package: i32,
    tag: Option<i32>,
) -> Result<Vec<i32>> {
    sqlx::query_scalar(
        "SELECT DISTINCT user_id FROM build_notifications_block \
         WHERE user_id = ANY($1) \
           AND (package_id = $2 OR package_id IS NULL) \
           AND (CASE WHEN $3::INTEGER IS NULL THEN tag_id IS NULL \
                     ELSE tag_id = $3 OR tag_id IS NULL END)",
    )
    .bind(users)
    .bind(package)
    .bind(tag)
    .fetch_all(db)
    .await
}

/// A mail to queue.
pub struct NewMail<'a> {
    pub kind: &'a str,
    pub build: i32,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub headers: &'a str,
    pub body: &'a str,
    /// 'queued' when a relay will send it, 'unsent' when none is configured.
    pub state: &'a str,
}

pub async fn queue_mail(db: &mut Conn, m: &NewMail<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO notification_mail (kind, build_id, recipient, subject, headers, body, state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(m.kind)
    .bind(m.build)
    .bind(m.recipient)
    .bind(m.subject)
    .bind(m.headers)
    .bind(m.body)
    .bind(m.state)
    .execute(db)
    .await?;
    Ok(())
}

/// A queued mail claimed for sending.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Mail {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub headers: String,
    pub body: String,
    pub attempts: i32,
}

/// Claim up to `limit` due mails: their next try moves `lease_secs` ahead, so another hub
/// (or this one, next pass) leaves them alone while they are sent.
pub async fn claim_due(db: &mut Conn, limit: i64, lease_secs: f64) -> Result<Vec<Mail>> {
    sqlx::query_as(
        "UPDATE notification_mail SET attempts = attempts + 1, \
           next_try = clock_timestamp() + make_interval(secs => $2) \
         WHERE id IN (SELECT id FROM notification_mail \
                      WHERE state = 'queued' AND next_try <= clock_timestamp() \
                      ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING id, recipient, subject, headers, body, attempts",
    )
    .bind(limit)
    .bind(lease_secs)
    .fetch_all(db)
    .await
}

pub async fn mark_sent(db: &mut Conn, id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE notification_mail SET state = 'sent', sent_time = clock_timestamp(), \
           last_error = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// A failed try: kept queued for another try after `retry_secs`, or 'failed' for good.
pub async fn mark_failed(
    db: &mut Conn,
    id: i64,
    error: &str,
    give_up: bool,
    retry_secs: f64,
) -> Result<()> {
    sqlx::query(
        "UPDATE notification_mail SET last_error = $2, \
           state = CASE WHEN $3 THEN 'failed' ELSE 'queued' END, \
           next_try = clock_timestamp() + make_interval(secs => $4) \
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(give_up)
    .bind(retry_secs)
    .execute(db)
    .await?;
    Ok(())
}
