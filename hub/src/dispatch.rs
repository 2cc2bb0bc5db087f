//! From a request body to a response body: decode, find the method, check the session,
//! bind the arguments, run the handler in its transaction, encode. Every failure becomes a
//! Koji fault; the HTTP layer always answers 200 so the stock client never retries blindly.

use crate::ctx::Ctx;
use crate::domain::sessions::{self, Session, SessionHeaders};
use crate::error::HubError;
use crate::hub::Hub;
use crate::registry::Method;
use crate::tls::PeerInfo;
use koji_protocol::{
    DecodeError, Fault, Limits, Value, decode_call, encode_fault, encode_response, kwargs,
    multicall_fault, multicall_ok,
};
use std::sync::Arc;
use std::time::Instant;

pub use crate::methods::KOJI_VERSION;

pub fn request_fault(e: &DecodeError) -> Fault {
    match e {
        DecodeError::TooLarge { .. } => Fault::generic("Invalid request: Request too long"),
        other => Fault::generic(format!("Invalid request: {other}")),
    }
}

pub async fn handle_xmlrpc(
    hub: Arc<Hub>,
    peer: Arc<PeerInfo>,
    headers: SessionHeaders,
    body: &[u8],
) -> String {
    let limits = Limits {
        max_bytes: hub.config.limits.max_request_length,
        max_depth: hub.config.limits.max_xml_depth,
    };
    let call = match decode_call(body, &limits) {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(peer = %peer.addr, error = %e, "refused request body");
            return encode_fault(&request_fault(&e));
        }
    };
    let started = Instant::now();
    let method = call.method.clone();
    let out = match method.as_str() {
        "multiCall" | "system.multicall" => multicall(hub, peer, &headers, call.params).await,
        _ => single(hub, peer, &headers, &method, call.params).await,
    };
    match &out {
        Ok(_) => {
            tracing::debug!(%method, elapsed_us = started.elapsed().as_micros() as u64, "call")
        }
        // debug, not info: a misbehaving client must not be able to flood the log
        Err(f) => tracing::debug!(%method, code = f.code, fault = %f.string, "call failed"),
    }
    match out {
        Ok(v) => encode_response(&v),
        Err(f) => encode_fault(&f),
    }
}

fn invalid_method(name: &str) -> HubError {
    HubError::generic(format!("Invalid method: {name}"))
}

async fn check_session(
    hub: &Hub,
    peer: &PeerInfo,
    headers: &SessionHeaders,
    method: &str,
) -> Result<Option<Session>, Fault> {
    if !headers.present() {
        return Ok(None);
    }
    sessions::validate(hub, peer, headers, method)
        .await
        .map(Some)
        .map_err(|e| e.into_fault_for(method))
}

async fn run(ctx: &mut Ctx, m: &Method, params: Vec<Value>) -> Result<Value, HubError> {
    let (pos, kw) = kwargs::split_kwargs(params);
    let args = m.sig.bind(m.name, pos, kw)?;
    ctx.method = m.name;
    (m.handler)(ctx, args).await
}

async fn single(
    hub: Arc<Hub>,
    peer: Arc<PeerInfo>,
    headers: &SessionHeaders,
    name: &str,
    params: Vec<Value>,
) -> Result<Value, Fault> {
    let m = crate::methods::registry()
        .get(name)
        .ok_or_else(|| invalid_method(name).into_fault())?;
    let session = check_session(&hub, &peer, headers, m.name).await?;
    let mut ctx = Ctx::new(hub, peer, session);
    ctx.readonly = m.readonly;
    match run(&mut ctx, m, params).await {
        Ok(v) => {
            ctx.commit().await.map_err(|e| e.into_fault_for(m.name))?;
            Ok(v)
        }
        Err(e) => {
            ctx.rollback().await;
            Err(e.into_fault_for(m.name))
        }
    }
}

/// One transaction for the batch, a savepoint per entry, one session check (as Koji).
async fn multicall(
    hub: Arc<Hub>,
    peer: Arc<PeerInfo>,
    headers: &SessionHeaders,
    params: Vec<Value>,
) -> Result<Value, Fault> {
    let mut params = params.into_iter();
    let calls = match (params.next(), params.next()) {
        (Some(Value::Array(calls)), None) => calls,
        _ => {
            return Err(Fault::parameter(
                "multiCall() takes exactly one argument: a list of {methodName, params}",
            ));
        }
    };
    let session = check_session(&hub, &peer, headers, "multiCall").await?;
    let mut ctx = Ctx::new(hub, peer, session);
    let mut results = Vec::with_capacity(calls.len());
    for call in calls {
        let entry = multicall_entry(&mut ctx, call).await;
        match entry {
            Ok(v) => results.push(multicall_ok(v)),
            Err((name, e)) => results.push(multicall_fault(&e.into_fault_for(&name))),
        }
    }
    ctx.method = "multiCall";
    ctx.commit()
        .await
        .map_err(|e| e.into_fault_for("multiCall"))?;
    Ok(Value::Array(results))
}

async fn multicall_entry(ctx: &mut Ctx, call: Value) -> Result<Value, (String, HubError)> {
    let Value::Struct(mut s) = call else {
        return Err((
            String::new(),
            HubError::parameter("multicall entries must be structs"),
        ));
    };
    let name = match s.shift_remove("methodName") {
        Some(Value::String(n)) => n,
        _ => {
            return Err((
                String::new(),
                HubError::parameter("multicall entry lacks methodName"),
            ));
        }
    };
    multicall_run(ctx, &name, s).await.map_err(|e| (name, e))
}

async fn multicall_run(
    ctx: &mut Ctx,
    name: &str,
    mut s: koji_protocol::Struct,
) -> Result<Value, HubError> {
    let params = match s.shift_remove("params") {
        Some(Value::Array(p)) => p,
        None => Vec::new(),
        Some(_) => return Err(HubError::parameter("multicall params must be a list")),
    };
    if name == "multiCall" || name == "system.multicall" {
        return Err(HubError::generic("multicall cannot be nested"));
    }
    let m = crate::methods::registry()
        .get(name)
        .ok_or_else(|| invalid_method(name))?;
    let event_before = ctx.current_event();
    let wrote_before = ctx.wrote;
    ctx.savepoint().await?;
    match run(ctx, m, params).await {
        Ok(v) => {
            ctx.release_savepoint().await?;
            Ok(v)
        }
        Err(e) => {
            ctx.rollback_savepoint().await?;
            ctx.reset_event(event_before);
            ctx.wrote = wrote_before;
            Err(e)
        }
    }
}
