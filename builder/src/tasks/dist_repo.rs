//! `distRepo` (`koji dist-repo`): the hub made the repo row and its directories
//! (`repos-dist/<tag>/<id>/<arch>/`); this task runs one `createdistrepo` subtask per arch,
//! has the hub move each arch into place (`host.distRepoMove`: the RPMs linked under
//! `Packages/`, the repodata beside them), then marks the repo READY (`host.repoDone`).
//! As kojid's, so the hub cannot tell which builder made it.

use koji_protocol::{Struct, Value};

use crate::hub::{OpenedTask, get_str};
use crate::taskdir::upload_path;
use crate::tasks::context::{
    TaskCtx, TaskError, TaskHandles, generic, param, param_error, param_i64,
};
use crate::tasks::repos::safe_component;
use crate::tasks::subtasks::wait_children;

/// Koji's canonArch for the arches a dist repo is made for (the hub names its arch
/// directories the same way).
pub fn canon_arch(a: &str) -> &str {
    match a {
        "i486" | "i586" | "i686" | "athlon" | "geode" => "i386",
        other => other,
    }
}

/// The repo's arches: the task's `arch` option, canonical, deduplicated, in order.
pub fn dist_arches(opts: &Value) -> Result<Vec<String>, String> {
    let list = match opts.get("arch") {
        Some(Value::Array(a)) => a.as_slice(),
        Some(Value::Nil) | None => &[],
        Some(v) => return Err(format!("arch must be a list, not {}", v.type_name())),
    };
    let mut out: Vec<String> = Vec::new();
    for v in list {
        let a = v
            .as_str()
            .ok_or_else(|| format!("arches must be strings, not {}", v.type_name()))?;
        let c = canon_arch(a).to_owned();
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

pub(crate) async fn run(
    ctx: &TaskCtx,
    task: &OpenedTask,
    h: &TaskHandles,
) -> Result<Value, TaskError> {
    let id = task.id;
    let tag = param(task, 0, "tag")?.clone();
    let repo_id = param_i64(task, 1, "repo_id")?;
    let keys = param(task, 2, "keys")?.clone();
    let opts = param(task, 3, "task_opts")?.clone();
    if !matches!(opts, Value::Struct(_)) {
        return Err(param_error("distRepo: task_opts must be a dict"));
    }
    let mut arches = dist_arches(&opts).map_err(param_error)?;
    if arches.is_empty() {
        let mut kw = Struct::new();
        kw.insert("strict".into(), Value::Bool(true));
        if let Some(ev) = opts.get("event").filter(|v| !v.is_nil()) {
            kw.insert("event".into(), ev.clone());
        }
        let t = ctx.hub.call_kw("getTag", vec![tag.clone()], kw).await?;
        for a in get_str(&t, "arches").unwrap_or("").split_whitespace() {
            let c = canon_arch(a).to_owned();
            if !arches.contains(&c) {
                arches.push(c);
            }
        }
    }
    if arches.is_empty() {
        return Err(generic("No arches specified nor for the tag!"));
    }
    for a in &arches {
        safe_component("arch", a)?;
    }
    let mut children = Vec::with_capacity(arches.len());
    for arch in &arches {
        let child = ctx
            .hub
            .subtask(
                "createdistrepo",
                vec![
                    tag.clone(),
                    Value::Int(repo_id),
                    Value::from(arch.as_str()),
                    keys.clone(),
                    opts.clone(),
                ],
                id,
                arch,
                "noarch",
            )
            .await?;
        tracing::info!(task = id, child, arch = %arch, repo = repo_id, "createdistrepo subtask");
        children.push((arch.clone(), child));
    }
    let ids: Vec<i64> = children.iter().map(|c| c.1).collect();
    wait_children(ctx, id, h, &ids).await?;
    for (arch, child) in &children {
        ctx.hub
            .call(
                "host.distRepoMove",
                vec![
                    Value::Int(repo_id),
                    Value::from(upload_path(*child).as_str()),
                    Value::from(arch.as_str()),
                ],
            )
            .await?;
        tracing::info!(task = id, repo = repo_id, arch = %arch, "dist repo arch in place");
    }
    ctx.hub
        .call(
            "host.repoDone",
            vec![Value::Int(repo_id), Value::Struct(Struct::new())],
        )
        .await?;
    tracing::info!(task = id, repo = repo_id, "dist repo done");
    Ok(Value::String(format!(
        "Dist repository #{repo_id} successfully generated"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use koji_protocol::kstruct;

    #[test]
    fn arches_are_canonical_and_unique() {
        let o = kstruct! {"arch" => vec![
            Value::from("x86_64"), Value::from("i686"), Value::from("i386"), Value::from("src"),
        ]};
        assert_eq!(dist_arches(&o).unwrap(), vec!["x86_64", "i386", "src"]);
        assert!(
            dist_arches(&kstruct! {"arch" => Value::Nil})
                .unwrap()
                .is_empty()
        );
        assert!(dist_arches(&kstruct! {"arch" => "x86_64"}).is_err());
        assert!(dist_arches(&kstruct! {"arch" => vec![Value::Int(1)]}).is_err());
    }
}
