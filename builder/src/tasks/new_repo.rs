//! `newRepo`: a repo of a tag. `host.repoInit` (the hub writes each arch's pkglist),
//! one `createrepo` subtask per arch, then `host.repoDone` publishes the repodata.

use koji_protocol::{Struct, Value};

use crate::hub::{OpenedTask, get_i64, get_str};
use crate::probe::on_thread;
use crate::tasks::context::{TaskCtx, TaskError, TaskHandles, generic, param_error};
use crate::tasks::repos::{FS_TIMEOUT, list_repo_arches, repo_dir, safe_component};
use crate::tasks::subtasks::wait_children;

/// How the task names its tag.
#[derive(Debug, Clone, PartialEq)]
pub enum TagRef {
    Id(i64),
    Name(String),
    /// The repo queue's `{'id': .., 'name': ..}`: no lookup needed.
    Info {
        id: i64,
        name: String,
    },
}

impl TagRef {
    fn to_value(&self) -> Value {
        match self {
            TagRef::Id(i) | TagRef::Info { id: i, .. } => Value::Int(*i),
            TagRef::Name(n) => Value::from(n.as_str()),
        }
    }
}

/// The parameters of a `newRepo` task, from either call form.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRepoArgs {
    pub tag: TagRef,
    pub event: Option<i64>,
    /// `Nil` (the hub's defaults) or a struct of repo options.
    pub opts: Value,
}

/// Parses `newRepo(tag, event=None, src=None, debuginfo=None, separate_src=None,
/// opts=None)`: the legacy form of `koji regen-repo` / the `newRepo` API (flags) and the
/// repo queue's form (`tagspec, opts={...}, event=N`, kwargs in `__starstar`). As kojid,
/// legacy flags become `opts` and cannot be combined with it.
pub fn parse_new_repo_args(params: &[Value], kwargs: &Struct) -> Result<NewRepoArgs, String> {
    const NAMES: [&str; 6] = ["tag", "event", "src", "debuginfo", "separate_src", "opts"];
    if params.len() > NAMES.len() {
        return Err(format!(
            "newRepo takes at most {} arguments ({} given)",
            NAMES.len(),
            params.len()
        ));
    }
    for k in kwargs.keys() {
        match NAMES.iter().position(|n| n == k) {
            None => return Err(format!("newRepo got an unexpected keyword argument '{k}'")),
            Some(i) if i < params.len() => {
                return Err(format!("newRepo got multiple values for argument '{k}'"));
            }
            Some(_) => {}
        }
    }
    let get = |i: usize| -> Option<&Value> {
        params
            .get(i)
            .or_else(|| kwargs.get(NAMES[i]))
            .filter(|v| !v.is_nil())
    };
    let tag = match get(0) {
        None => return Err("newRepo: missing parameter tag".into()),
        Some(Value::String(s)) => TagRef::Name(s.clone()),
        Some(v @ Value::Struct(_)) => {
            let id = get_i64(v, "id");
            let name = get_str(v, "name").map(str::to_owned);
            match (id, name) {
                (Some(id), Some(name)) => TagRef::Info { id, name },
                (Some(id), None) => TagRef::Id(id),
                (None, Some(name)) => TagRef::Name(name),
                (None, None) => return Err("newRepo: the tag has neither id nor name".into()),
            }
        }
        Some(v) => match v.as_i64() {
            Some(i) => TagRef::Id(i),
            None => return Err(format!("newRepo: invalid tag: {}", v.type_name())),
        },
    };
    let event = match get(1) {
        None => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| format!("newRepo: event must be an int, not {}", v.type_name()))?,
        ),
    };
    let mut legacy = Struct::new();
    for (i, key) in [(2, "src"), (3, "debuginfo"), (4, "separate_src")] {
        if let Some(v) = get(i) {
            legacy.insert(key.to_owned(), Value::Bool(v.is_truthy()));
        }
    }
    let opts = match get(5) {
        None => Value::Nil,
        Some(v @ Value::Struct(_)) => v.clone(),
        Some(v) => {
            return Err(format!(
                "newRepo: opts must be a dict, not {}",
                v.type_name()
            ));
        }
    };
    let opts = match (legacy.is_empty(), opts.is_nil()) {
        (true, _) => opts,
        (false, true) => Value::Struct(legacy),
        (false, false) => {
            return Err("opts parameter cannot be combined with legacy options".into());
        }
    };
    Ok(NewRepoArgs { tag, event, opts })
}

pub(crate) async fn run(
    ctx: &TaskCtx,
    task: &OpenedTask,
    h: &TaskHandles,
) -> Result<Value, TaskError> {
    let id = task.id;
    let args = parse_new_repo_args(&task.params, &task.kwargs).map_err(param_error)?;
    let (tag_id, tag_name) = match &args.tag {
        TagRef::Info { id, name } => (*id, name.clone()),
        other => {
            let mut kw = Struct::new();
            kw.insert("strict".into(), Value::Bool(true));
            if let Some(ev) = args.event {
                kw.insert("event".into(), Value::Int(ev));
            }
            let t = ctx
                .hub
                .call_kw("getTag", vec![other.to_value()], kw)
                .await?;
            let tid = get_i64(&t, "id").ok_or_else(|| generic("getTag returned no tag id"))?;
            let name = get_str(&t, "name")
                .ok_or_else(|| generic("getTag returned no tag name"))?
                .to_owned();
            (tid, name)
        }
    };
    safe_component("tag name", &tag_name)?;

    // As kojid: without the repos dir (a missing mount) nothing this task does can work.
    let repos_top = ctx.cfg.topdir.join("repos");
    let rt = repos_top.clone();
    let present = on_thread("stat repos dir", FS_TIMEOUT, move || Ok(rt.is_dir()))
        .await
        .map_err(generic)?;
    if !present {
        return Err(generic(format!(
            "No access to repos dir {}",
            repos_top.display()
        )));
    }

    let mut kw = Struct::new();
    kw.insert("task_id".into(), Value::Int(id));
    kw.insert("opts".into(), args.opts.clone());
    if let Some(ev) = args.event {
        kw.insert("event".into(), Value::Int(ev));
    }
    let init = ctx
        .hub
        .call_kw("host.repoInit", vec![Value::Int(tag_id)], kw)
        .await?;
    let (repo_id, event_id) = match init.as_array() {
        Some([r, e, ..]) => (r.as_i64(), e.as_i64()),
        _ => (None, None),
    };
    let (Some(repo_id), Some(event_id)) = (repo_id, event_id) else {
        return Err(generic("host.repoInit did not return [repo_id, event_id]"));
    };
    tracing::info!(task = id, tag = %tag_name, repo = repo_id, event = event_id, "repo initialized");

    let dir = repo_dir(&ctx.cfg.topdir, &tag_name, repo_id);
    let d = dir.clone();
    let arches = on_thread("list repo arches", FS_TIMEOUT, move || {
        if !d.is_dir() {
            return Err(format!("Repo directory missing: {}", d.display()));
        }
        list_repo_arches(&d).map_err(|e| format!("cannot list {}: {e}", d.display()))
    })
    .await
    .map_err(generic)?;

    let mut data = Struct::new();
    if arches.is_empty() {
        tracing::info!(
            task = id,
            repo = repo_id,
            "the tag has no arches: empty repo"
        );
    } else {
        // The previous repo, for createrepo to start from (Koji's --update); kkoji's
        // metadata cache makes it optional, but the argument keeps kojid's task shape.
        let oldrepo = ctx.hub.call("getRepo", vec![Value::Int(tag_id)]).await?;
        let mut children = Vec::with_capacity(arches.len());
        for arch in &arches {
            let child = ctx
                .hub
                .subtask(
                    "createrepo",
                    vec![
                        Value::Int(repo_id),
                        Value::from(arch.as_str()),
                        oldrepo.clone(),
                    ],
                    id,
                    arch,
                    "noarch",
                )
                .await?;
            tracing::info!(task = id, child, arch = %arch, "createrepo subtask");
            children.push((arch.clone(), child));
        }
        let ids: Vec<i64> = children.iter().map(|c| c.1).collect();
        let results = wait_children(ctx, id, h, &ids).await?;
        for (arch, child) in &children {
            let r = results
                .iter()
                .find(|(i, _)| i == child)
                .map(|(_, r)| r)
                .ok_or_else(|| generic(format!("no result from createrepo task {child}")))?;
            let ok = matches!(r.as_array(), Some([p, files])
                if p.as_str().is_some()
                    && files.as_array().is_some_and(|f| f.iter().all(|x| x.as_str().is_some())));
            if !ok {
                return Err(generic(format!(
                    "createrepo task {child} returned {} instead of [uploadpath, [files]]",
                    r.type_name()
                )));
            }
            data.insert(arch.clone(), r.clone());
        }
    }
    ctx.hub
        .call(
            "host.repoDone",
            vec![Value::Int(repo_id), Value::Struct(data)],
        )
        .await?;
    tracing::info!(task = id, tag = %tag_name, repo = repo_id, "repo done");
    Ok(Value::Array(vec![
        Value::Int(repo_id),
        Value::Int(event_id),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use koji_protocol::kstruct;

    fn kw(pairs: &[(&str, Value)]) -> Struct {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn new_repo_legacy_form() {
        let a = parse_new_repo_args(&[Value::from("f40-build")], &Struct::new()).unwrap();
        assert_eq!(
            a,
            NewRepoArgs {
                tag: TagRef::Name("f40-build".into()),
                event: None,
                opts: Value::Nil
            }
        );
        // koji regen-repo --debuginfo: positional tag, kwargs flags
        let a = parse_new_repo_args(
            &[Value::Int(7)],
            &kw(&[("debuginfo", Value::Bool(true)), ("event", Value::Int(99))]),
        )
        .unwrap();
        assert_eq!(a.tag, TagRef::Id(7));
        assert_eq!(a.event, Some(99));
        assert_eq!(a.opts, kstruct! {"debuginfo" => true});
        // all positional, with Nones
        let a = parse_new_repo_args(
            &[
                Value::from("t"),
                Value::Nil,
                Value::Bool(true),
                Value::Bool(false),
                Value::Nil,
            ],
            &Struct::new(),
        )
        .unwrap();
        assert_eq!(a.event, None);
        assert_eq!(a.opts, kstruct! {"src" => true, "debuginfo" => false});
    }

    #[test]
    fn new_repo_queue_form() {
        let a = parse_new_repo_args(
            &[kstruct! {"id" => 5, "name" => "f40-build"}],
            &kw(&[
                (
                    "opts",
                    kstruct! {"src" => false, "debuginfo" => false, "separate_src" => false},
                ),
                ("event", Value::Int(1234)),
            ]),
        )
        .unwrap();
        assert_eq!(
            a.tag,
            TagRef::Info {
                id: 5,
                name: "f40-build".into()
            }
        );
        assert_eq!(a.event, Some(1234));
        assert_eq!(a.opts.get("separate_src"), Some(&Value::Bool(false)));
        // a tagspec with only an id is looked up
        let a = parse_new_repo_args(&[kstruct! {"id" => 5}], &Struct::new()).unwrap();
        assert_eq!(a.tag, TagRef::Id(5));
    }

    #[test]
    fn new_repo_bad_calls() {
        let e = |p: &[Value], k: Struct| parse_new_repo_args(p, &k).unwrap_err();
        assert_eq!(
            e(
                &[Value::from("t")],
                kw(&[
                    ("src", Value::Bool(true)),
                    ("opts", kstruct! {"src" => true})
                ])
            ),
            "opts parameter cannot be combined with legacy options"
        );
        assert!(e(&[], Struct::new()).contains("missing parameter tag"));
        assert!(e(&[Value::from("t")], kw(&[("bogus", Value::Int(1))])).contains("'bogus'"));
        assert!(e(&[Value::from("t")], kw(&[("tag", Value::from("u"))])).contains("multiple"));
        assert!(e(&[Value::from("t"), Value::from("x")], Struct::new()).contains("event"));
        assert!(e(&[Value::from("t")], kw(&[("opts", Value::Int(1))])).contains("dict"));
        assert!(e(&[Value::Double(1.5)], Struct::new()).contains("invalid tag"));
    }
}
