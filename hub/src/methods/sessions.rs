//! Sessions: `sslLogin`, `logout`, exclusive and shared sessions, subsessions.

use crate::ctx::Ctx;
use crate::domain::sessions::{self, Session};
use crate::error::HResult;
use crate::signature::Args;
use crate::timefmt;
use koji_protocol::{Value, kstruct};

fn login_struct(id: i64, key: &str) -> Value {
    kstruct! { "session-id" => id, "session-key" => key, "header-auth" => true }
}

/// sslLogin(proxyuser=None, proxyauthtype=None, renew=False, exclusive=None)
pub async fn ssl_login(c: &mut Ctx, a: Args) -> HResult<Value> {
    let renew = a.truthy(2);
    let exclusive = a.truthy(3);
    let proxy = a.opt_str(0)?.map(str::to_string);
    let (id, key) = sessions::ssl_login(c, proxy.as_deref(), renew, exclusive).await?;
    Ok(login_struct(id, &key))
}

/// logout(session_id=None)
pub async fn logout(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_login()?;
    let target = a.opt_i64(0)?;
    sessions::logout(c, target).await?;
    Ok(Value::Nil)
}

/// exclusiveSession(force=False)
pub async fn exclusive_session(c: &mut Ctx, a: Args) -> HResult<Value> {
    sessions::make_exclusive(c, a.truthy(0)).await?;
    Ok(Value::Nil)
}

/// sharedSession()
pub async fn shared_session(c: &mut Ctx, _a: Args) -> HResult<Value> {
    sessions::make_shared(c).await?;
    Ok(Value::Nil)
}

/// subsession()
pub async fn subsession(c: &mut Ctx, _a: Args) -> HResult<Value> {
    let (id, key) = sessions::subsession(c).await?;
    Ok(login_struct(id, &key))
}

/// logoutChild(session_id)
pub async fn logout_child(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_login()?;
    sessions::logout_child(c, a.i64(0)?).await?;
    Ok(Value::Nil)
}

fn session_value(s: &Session, details: bool) -> Value {
    let mut v = kstruct! {
        "user_id" => s.user_id,
        "expired" => s.expired,
        "master" => s.master,
        "authtype" => s.authtype,
        "callnum" => s.callnum,
        "start_time" => timefmt::iso(&s.start_time),
        "start_ts" => timefmt::ts(&s.start_time),
        "update_time" => timefmt::iso(&s.update_time),
        "update_ts" => timefmt::ts(&s.update_time),
        "renew_time" => timefmt::iso_value(s.renew_time.as_ref()),
        "renew_ts" => timefmt::ts_value(s.renew_time.as_ref()),
        "exclusive" => s.exclusive,
    };
    if details && let Value::Struct(m) = &mut v {
        m.insert("hostip".into(), Value::String(s.hostip.clone()));
        m.insert("id".into(), Value::Int(s.id));
    }
    v
}

/// getSessionInfo(details=False, user_id=None)
pub async fn get_session_info(c: &mut Ctx, a: Args) -> HResult<Value> {
    let details = a.truthy(0);
    if let Some(uid) = a.opt_id(1)? {
        let rows = sessions::sessions_of(c, uid).await?;
        return Ok(Value::Array(
            rows.iter().map(|s| session_value(s, details)).collect(),
        ));
    }
    Ok(match &c.session {
        Some(s) => session_value(s, details),
        None => Value::Nil,
    })
}
