//! After a good sync: the repo as a Koji external repo, linked to its tags, through the
//! hub's own API (`createExternalRepo`, `editExternalRepo`, `addExternalRepoToTag`,
//! `editTagExternalRepo`). Every call is made only when something differs, so a no-op
//! sync leaves no event in the hub's history and kkoji-repo-regen regenerates only the
//! tags whose links changed.

use std::time::Duration;

use koji_protocol::{ClientConfig, KojiClient, Struct, Value};

use crate::config::{HubConfig, Register};

/// What registration changed, for the log.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Changes {
    pub created: bool,
    pub url_changed: bool,
    pub linked: Vec<String>,
    pub relinked: Vec<String>,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("hub: {e}")
}

pub async fn register(hub: &HubConfig, reg: &Register, url: &str) -> Result<Changes, String> {
    let cc = ClientConfig::for_daemon(
        hub.server.clone(),
        &hub.cert,
        hub.serverca.as_deref(),
        Duration::from_secs(hub.timeout_secs),
    )
    .map_err(err)?;
    let client = KojiClient::new(cc).map_err(err)?;
    client.ssl_login().await.map_err(err)?;
    let res = apply(&client, reg, url).await;
    let _ = client.logout().await;
    res
}

async fn apply(client: &KojiClient, reg: &Register, url: &str) -> Result<Changes, String> {
    let mut ch = Changes::default();
    let existing = client
        .call("getExternalRepo", vec![reg.name.clone().into()])
        .await
        .map_err(err)?;
    match existing.get("url").and_then(Value::as_str) {
        None => {
            client
                .call(
                    "createExternalRepo",
                    vec![reg.name.clone().into(), url.into()],
                )
                .await
                .map_err(|e| err(format!("createExternalRepo {}: {e}", reg.name)))?;
            ch.created = true;
        }
        Some(u) if u != url => {
            let mut kw = Struct::new();
            kw.insert("url".into(), url.into());
            client
                .call_kw("editExternalRepo", vec![reg.name.clone().into()], kw)
                .await
                .map_err(|e| err(format!("editExternalRepo {}: {e}", reg.name)))?;
            ch.url_changed = true;
        }
        Some(_) => {}
    }
    for tag in &reg.tags {
        let mut kw = Struct::new();
        kw.insert("tag_info".into(), tag.clone().into());
        let links = client
            .call_kw("getTagExternalRepos", Vec::new(), kw)
            .await
            .map_err(|e| err(format!("getTagExternalRepos {tag}: {e}")))?;
        let link = links.as_array().unwrap_or_default().iter().find(|l| {
            l.get("external_repo_name").and_then(Value::as_str) == Some(reg.name.as_str())
        });
        match link {
            None => {
                let mut kw = Struct::new();
                kw.insert("merge_mode".into(), reg.merge_mode.clone().into());
                client
                    .call_kw(
                        "addExternalRepoToTag",
                        vec![
                            tag.clone().into(),
                            reg.name.clone().into(),
                            reg.priority.into(),
                        ],
                        kw,
                    )
                    .await
                    .map_err(|e| err(format!("addExternalRepoToTag {tag} {}: {e}", reg.name)))?;
                ch.linked.push(tag.clone());
            }
            Some(l) => {
                let prio = l.get("priority").and_then(Value::as_i64);
                let mode = l.get("merge_mode").and_then(Value::as_str);
                if prio != Some(reg.priority) || mode != Some(reg.merge_mode.as_str()) {
                    let mut kw = Struct::new();
                    kw.insert("priority".into(), reg.priority.into());
                    kw.insert("merge_mode".into(), reg.merge_mode.clone().into());
                    client
                        .call_kw(
                            "editTagExternalRepo",
                            vec![tag.clone().into(), reg.name.clone().into()],
                            kw,
                        )
                        .await
                        .map_err(|e| err(format!("editTagExternalRepo {tag} {}: {e}", reg.name)))?;
                    ch.relinked.push(tag.clone());
                }
            }
        }
    }
    Ok(ch)
}
