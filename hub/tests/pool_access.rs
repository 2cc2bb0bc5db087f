//! Handlers never touch the connection pool. Every query of a call goes through the call's own
//! connection (`Ctx::db`); a handler that took a second connection while holding its first
//! could deadlock the hub under load (as `host.getTasks` once did with 16 polling builders).
//!
//! The type system already keeps the pool out of handlers' reach (`Ctx` hands out
//! `HubState`, which has no pool). This check keeps it that way if someone widens that door:
//! only the files below may name the pool at all.

use std::path::{Path, PathBuf};

/// Files allowed to reach the pool, and why.
const ALLOWED: &[(&str, &str)] = &[
    ("hub.rs", "owns the pool"),
    (
        "background/listener.rs",
        "the NOTIFY listener (a pool of its own)",
    ),
    (
        "background/repo_queue.rs",
        "the background repo queue pass (its own connection)",
    ),
    (
        "background/scheduler.rs",
        "a scheduler pass on a connection it owns",
    ),
    (
        "background/mailer.rs",
        "the mailer's pass on a connection it owns",
    ),
    ("ctx.rs", "the call's own connection/transaction"),
    ("db.rs", "creates the pool"),
    ("run.rs", "start-up and shutdown"),
    ("farm.rs", "start-up bootstrap, before serving"),
    (
        "domain/sessions.rs",
        "session validation, before the call's context exists",
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read hub/src") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Lines that name the pool, comments excepted.
fn pool_uses(text: &str) -> Vec<String> {
    let needles = [
        "PgPool",
        ".pool()",
        ".pool.",
        "pool.acquire",
        "pool.begin",
        "Pool<",
    ];
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .filter(|l| needles.iter().any(|n| l.contains(n)))
        .map(str::to_string)
        .collect()
}

#[test]
fn only_the_call_context_and_background_loops_reach_the_pool() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut offenders = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        let rel_s = rel.to_string_lossy();
        if ALLOWED.iter().any(|(name, _)| *name == rel_s) {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("read source");
        for line in pool_uses(&text) {
            offenders.push(format!("{rel_s}: {}", line.trim()));
        }
    }
    assert!(
        offenders.is_empty(),
        "these files reach the connection pool directly; go through the call's Ctx::db() \
         (or a background loop's own connection) instead:\n{}",
        offenders.join("\n")
    );
    // the handler folder is never on the list
    assert!(ALLOWED.iter().all(|(n, _)| !n.starts_with("methods")));
}

#[test]
fn the_check_sees_a_handler_that_takes_a_pool_connection() {
    let bad =
        "async fn h(c: &mut Ctx) {\n    let pool = hub.pool().clone();\n    x.fetch_all(&pool)\n}";
    assert_eq!(pool_uses(bad).len(), 1);
    let bad2 = "fn f(p: &sqlx::PgPool) {}";
    assert_eq!(pool_uses(bad2).len(), 1);
    let fine = "// the pool is not for handlers: hub.pool()\nlet x = c.db().await?;";
    assert!(pool_uses(fine).is_empty());
}
