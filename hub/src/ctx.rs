//! The per-call context: who is calling, over which connection, and the call's database
//! transaction. One call (or one multicall batch) is one transaction: a state change either
//! commits whole with its event, or leaves nothing behind.

use crate::error::{HResult, HubError};
use crate::hub::{Hub, HubState};
use crate::storage::sessions::Session;
use crate::storage::{Stamp, calls, events, sessions, users};
use crate::tls::PeerInfo;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres, Transaction};
use std::sync::Arc;

pub struct Ctx {
    /// Private: handlers see [`Ctx::hub`] (no pool) and [`Ctx::db`] (the call's own
    /// connection), never the pool itself.
    hub: Arc<Hub>,
    pub peer: Arc<PeerInfo>,
    /// The validated session, if the request carried one.
    pub session: Option<Session>,
    /// The method being run (inside a multicall: the inner method).
    pub method: &'static str,
    /// A method that only reads: it runs on a plain pooled connection (no BEGIN/COMMIT).
    pub readonly: bool,
    /// The call closed its own session (logout): the commit must not re-check it.
    pub session_closed: bool,
    tx: Option<Conn>,
    event: Option<i64>,
    /// The call changed data; the session's callnum is persisted with the commit.
    pub wrote: bool,
    /// The call changed data other hubs may have cached (everything but a host's check-in):
    /// the commit tells them (NOTIFY kkoji_changes).
    notify_changes: bool,
    /// The handler stored the callnum itself, in its own single statement
    /// ([`Ctx::autocommit_db`]): the commit has nothing left to record.
    callnum_recorded: bool,
    perms: Option<Vec<String>>,
}

impl Ctx {
    pub fn new(hub: Arc<Hub>, peer: Arc<PeerInfo>, session: Option<Session>) -> Ctx {
        Ctx {
            hub,
            peer,
            session,
            method: "",
            readonly: false,
            session_closed: false,
            tx: None,
            event: None,
            wrote: false,
            notify_changes: false,
            callnum_recorded: false,
            perms: None,
        }
    }

    /// The hub's shared state (config, caches, wake-ups), without its connection pool.
    pub fn hub(&self) -> &HubState {
        self.hub.state()
    }

    /// A pooled connection, in a transaction begun now or plain.
    async fn open(&self, transaction: bool) -> HResult<Conn> {
        let pool = self.hub.pool();
        let conn = if transaction {
            pool.begin().await.map(Conn::Tx)
        } else {
            pool.acquire().await.map(Conn::Plain)
        };
        conn.map_err(|e| self.hub.acquire_failed(e))
    }

    /// The call's transaction, begun on first use so that calls which never touch the
    /// database (getAPIVersion, hello) cost no round trip.
    pub async fn db(&mut self) -> HResult<&mut PgConnection> {
        if self.tx.is_none() {
            self.tx = Some(self.open(!self.readonly).await?);
        }
        match self.tx.as_mut() {
            Some(Conn::Tx(tx)) => Ok(&mut **tx),
            Some(Conn::Plain(c)) => Ok(&mut **c),
            None => Err(HubError::generic("no transaction")),
        }
    }

    /// The call's connection inside a transaction, also for a read-only call that has not
    /// touched the database yet: for settings that must end with the call (`SET LOCAL`).
    /// `None` when a read-only call already reads on a plain connection.
    pub async fn transaction_db(&mut self) -> HResult<Option<&mut PgConnection>> {
        if self.tx.is_none() {
            self.tx = Some(self.open(true).await?);
        }
        match self.tx.as_mut() {
            Some(Conn::Tx(tx)) => Ok(Some(&mut **tx)),
            _ => Ok(None),
        }
    }

    /// True when the call already runs in a transaction (a multicall batch, or a handler that
    /// touched [`Ctx::db`] on a writing call).
    pub fn in_transaction(&self) -> bool {
        matches!(self.tx, Some(Conn::Tx(_)))
    }

    /// A plain connection for a call that does all of its writing, callnum included, in one
    /// statement (PostgreSQL runs it in its own implicit transaction): no BEGIN and COMMIT
    /// round trips. Only for calls not [`Ctx::in_transaction`]; the handler must call
    /// [`Ctx::callnum_recorded`] (or fail) after its statement.
    pub async fn autocommit_db(&mut self) -> HResult<&mut PgConnection> {
        if self.tx.is_none() {
            self.tx = Some(self.open(false).await?);
        }
        match self.tx.as_mut() {
            Some(Conn::Plain(c)) => Ok(&mut **c),
            _ => Err(HubError::generic(
                "internal error: a single-statement write inside a transaction",
            )),
        }
    }

    /// The handler's own statement stored the session's callnum (see [`Ctx::autocommit_db`]).
    pub fn callnum_recorded(&mut self) {
        self.callnum_recorded = true;
        if let Some(s) = &self.session
            && let Some(n) = s.callnum_received
        {
            self.hub.sessions.set_callnum(s.id, n);
        }
    }

    /// Why a write carrying `n` may not commit for session `sid`: closed, expired, or a
    /// replayed callnum. Read after the session row refused the callnum update.
    pub async fn callnum_refusal(&mut self, sid: i64, n: Option<i64>) -> HubError {
        let method = self.method;
        let row = match self.db().await {
            Ok(db) => sessions::status(db, sid).await,
            Err(e) => return e,
        };
        match (row, n) {
            (Err(e), _) => e.into(),
            (Ok(Some((false, true))), _) => {
                HubError::AuthExpired(format!("session \"{sid}\" has expired"))
            }
            (Ok(Some((false, false))), Some(n)) => HubError::Retry(format!(
                "unable to retry call {n} (method {method}) for session {sid}"
            )),
            _ => HubError::auth("Invalid session or bad credentials"),
        }
    }

    /// The event that versions every change of this call, created on first need.
    pub async fn event(&mut self) -> HResult<i64> {
        if let Some(e) = self.event {
            return Ok(e);
        }
        if self.readonly {
            tracing::error!(
                method = self.method,
                "a read-only method tried to change data"
            );
            return Err(HubError::generic(format!(
                "internal error: {} may not change data",
                self.method
            )));
        }
        self.wrote = true;
        self.notify_changes = true;
        let id = events::create(self.db().await?).await?;
        self.event = Some(id);
        Ok(id)
    }

    /// The call's event and the caller: what versioned rows it changes are stamped with.
    pub async fn stamp(&mut self) -> HResult<Stamp> {
        Ok(Stamp {
            event: self.event().await?,
            user: self.user_id(),
        })
    }

    pub fn current_event(&self) -> Option<i64> {
        self.event
    }

    /// Forget an event created inside a multicall entry that was rolled back.
    pub fn reset_event(&mut self, to: Option<i64>) {
        self.event = to;
    }

    pub fn mark_write(&mut self) {
        self.wrote = true;
        self.notify_changes = true;
    }

    /// A write no other hub caches (a builder's check-in: load, ready flag, status). It is
    /// committed with the callnum like any write, but sends no change notification: with
    /// hundreds of builders checking in, one NOTIFY per check-in would serialise their
    /// commits on PostgreSQL's notification queue and wake every hub's listener for nothing.
    pub fn mark_checkin_write(&mut self) {
        self.wrote = true;
    }

    pub fn user_id(&self) -> Option<i32> {
        self.session.as_ref().map(|s| s.user_id)
    }

    pub fn user_name(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.user_name.as_str())
    }

    pub fn assert_login(&self) -> HResult<&Session> {
        self.session
            .as_ref()
            .ok_or_else(|| HubError::auth("Not logged in"))
    }

    pub async fn perms(&mut self) -> HResult<Vec<String>> {
        if let Some(p) = &self.perms {
            return Ok(p.clone());
        }
        let Some(uid) = self.user_id() else {
            return Ok(Vec::new());
        };
        let p = users::perms_by_id(self.db().await?, uid).await?;
        self.perms = Some(p.clone());
        Ok(p)
    }

    /// Exactly `perm` (no admin implied), as Koji's `hasPerm`.
    pub async fn has_perm(&mut self, perm: &str) -> HResult<bool> {
        Ok(self.perms().await?.iter().any(|p| p == perm))
    }

    /// Koji's `assertPerm`: `perm` or admin, else ActionNotAllowed.
    pub async fn assert_perm(&mut self, perm: &str) -> HResult<()> {
        let perms = self.perms().await?;
        if perms.iter().any(|p| p == perm || p == "admin") {
            return Ok(());
        }
        let who = match self.user_name() {
            Some(n) => format!("logged in as {n}"),
            None => "user not logged in".to_string(),
        };
        Err(HubError::not_allowed(format!(
            "{perm} permission required ({who})"
        )))
    }

    pub async fn is_admin(&mut self) -> HResult<bool> {
        self.has_perm("admin").await
    }

    pub async fn savepoint(&mut self) -> HResult<()> {
        calls::savepoint(self.db().await?).await?;
        Ok(())
    }

    pub async fn release_savepoint(&mut self) -> HResult<()> {
        calls::release_savepoint(self.db().await?).await?;
        Ok(())
    }

    pub async fn rollback_savepoint(&mut self) -> HResult<()> {
        self.perms = None;
        calls::rollback_to_savepoint(self.db().await?).await?;
        Ok(())
    }

    /// Commit the call. If it changed data and the request carried a callnum, the callnum is
    /// stored in the same transaction, so a replay of this write is refused (RetryError)
    /// while replays of read-only calls stay harmless, as in Koji.
    pub async fn commit(mut self) -> HResult<()> {
        if self.wrote
            && !self.session_closed
            && !self.callnum_recorded
            && let Some(s) = &self.session
        {
            let (sid, n) = (s.id, s.callnum_received);
            // The session may have been closed or expired since it was validated (possibly
            // through another hub, or while cached), and two concurrent writes may carry one
            // callnum: check both in the call's transaction, so such a write never commits.
            let recorded = sessions::record_call(self.db().await?, sid, n).await?;
            if !recorded {
                // dropping the transaction rolls the call's changes back
                return Err(self.callnum_refusal(sid, n).await);
            }
            if let Some(n) = n {
                self.hub.sessions.set_callnum(sid, n);
            }
        }
        let changed = self.wrote && self.notify_changes && matches!(self.tx, Some(Conn::Tx(_)));
        if changed {
            // other hubs drop their cached reads when this commits
            calls::notify_changes(self.db().await?).await?;
        }
        match self.tx.take() {
            Some(Conn::Tx(tx)) => tx.commit().await?,
            Some(Conn::Plain(_)) | None => {}
        }
        if changed {
            self.hub.bump_generation();
        }
        Ok(())
    }

    /// Commit what the call did so far and release its connection (a long-poll keeps
    /// nothing open while it waits). Only for calls whose writes need no callnum record.
    pub async fn commit_open(&mut self) -> HResult<()> {
        if let Some(Conn::Tx(tx)) = self.tx.take() {
            tx.commit().await?;
        }
        Ok(())
    }

    /// End the transaction begun so far without ending the call (a long-poll must not hold
    /// one open while it waits). Only for calls that have not written.
    pub async fn rollback_open(&mut self) {
        if let Some(Conn::Tx(tx)) = self.tx.take()
            && let Err(e) = tx.rollback().await
        {
            tracing::warn!(error = %e, "rollback failed");
        }
        self.perms = None;
    }

    /// Roll back explicitly (dropping the transaction would too, but asynchronously).
    pub async fn rollback(mut self) {
        if let Some(Conn::Tx(tx)) = self.tx.take()
            && let Err(e) = tx.rollback().await
        {
            tracing::warn!(error = %e, "rollback failed");
        }
    }
}

/// The call's connection: a transaction for calls that may write, a plain pooled
/// connection for read-only calls.
enum Conn {
    Tx(Transaction<'static, Postgres>),
    Plain(PoolConnection<Postgres>),
}
