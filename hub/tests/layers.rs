//! The hub's layers point one way, and no two files import each other (ARCHITECTURE.md,
//! "Inside the hub"):
//!
//! ```text
//! edge (server, dispatch, uploads, run, cli)
//!   -> methods/ (XML-RPC handlers)      background/ (the hub's own loops)
//!        -> domain/ (the rules)  <-----------'
//!             -> storage/ (the SQL)
//! ```
//!
//! This test reads `hub/src`, resolves every `crate::…`/`super::…` path to the file that
//! defines the module, and fails on a reference against the arrows, on any import cycle
//! between files, on SQL outside `storage/`, and on an `as i32` cast (ids and numbers from
//! the wire are checked, never cast).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What a layer may not name, and why.
const FORBIDDEN: &[(&str, &[&str], &str)] = &[
    (
        "storage",
        &[
            "domain",
            "methods",
            "background",
            "ctx",
            "hub",
            "dispatch",
            "registry",
            "signature",
            "server",
            "uploads",
            "run",
            "cli",
        ],
        "storage is the bottom layer: SQL on a connection, nothing about calls",
    ),
    (
        "domain",
        &[
            "methods",
            "background",
            "dispatch",
            "registry",
            "signature",
            "server",
            "uploads",
            "run",
            "cli",
            "body",
        ],
        "the domain knows nothing of XML-RPC handlers, argument binding or the hub's loops",
    ),
    (
        "background",
        &[
            "methods",
            "dispatch",
            "registry",
            "signature",
            "server",
            "uploads",
            "run",
            "cli",
        ],
        "background loops call the domain, never the handlers",
    ),
    (
        "methods",
        &[
            "storage",
            "background",
            "dispatch",
            "server",
            "uploads",
            "run",
            "cli",
        ],
        "handlers call the domain; the SQL is the domain's business",
    ),
];

/// Files allowed what the rules below forbid, and why.
const SQL_ELSEWHERE: &[(&str, &str)] = &[];
const CASTS_ALLOWED: &[(&str, &str)] = &[];

struct Src {
    rel: String,
    module: Vec<String>,
    text: String,
}

fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts == ["main"] {
        parts.clear();
    }
    parts
}

fn load(dir: &Path, top: &Path, out: &mut Vec<Src>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read hub/src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            load(&p, top, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p
                .strip_prefix(top)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&p).expect("read source");
            out.push(Src {
                module: module_of(&rel),
                rel,
                text,
            });
        }
    }
}

/// The code of a file: comments and unit tests left out (a test may name anything).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Past an ` as name` after a path in a use-list.
fn skip_alias(s: &[char], mut i: usize) -> usize {
    let mut j = i;
    while s.get(j).is_some_and(|c| c.is_whitespace()) {
        j += 1;
    }
    if s.get(j) == Some(&'a')
        && s.get(j + 1) == Some(&'s')
        && s.get(j + 2).is_some_and(|c| c.is_whitespace())
    {
        j += 3;
        while s.get(j).is_some_and(|c| c.is_whitespace()) {
            j += 1;
        }
        while s.get(j).is_some_and(|c| is_ident(*c)) {
            j += 1;
        }
        i = j;
    }
    i
}

/// The paths named from position `i` on (after `crate::` or `super::`): `a::b`, and
/// every member of `a::{b, c::{d}}`.
fn read_paths(s: &[char], mut i: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix;
    loop {
        if s.get(i) == Some(&'{') {
            i += 1;
            loop {
                while s.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                    i += 1;
                }
                if s.get(i).is_none_or(|c| *c == '}') {
                    return i + 1;
                }
                i = read_paths(s, i, path.clone(), out);
                i = skip_alias(s, i);
            }
        }
        let start = i;
        while s.get(i).is_some_and(|c| is_ident(*c)) {
            i += 1;
        }
        if start == i {
            out.push(path);
            return i;
        }
        path.push(s[start..i].iter().collect());
        if s.get(i) == Some(&':') && s.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

/// Every module path a file's code names, absolute (`crate` resolved, `super` climbed).
fn named_paths(src: &Src) -> Vec<Vec<String>> {
    let s: Vec<char> = code(&src.text).chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let word_start = i == 0 || !is_ident(s[i - 1]);
        let rest: String = s[i..(i + 7).min(s.len())].iter().collect();
        if word_start && rest.starts_with("crate::") {
            i = read_paths(&s, i + 7, Vec::new(), &mut out);
        } else if word_start && rest.starts_with("super::") {
            let mut base = src.module.clone();
            while s[i..].iter().collect::<String>().starts_with("super::") {
                base.pop();
                i += 7;
            }
            i = read_paths(&s, i, base, &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// The files each file names (through the longest module prefix of each path).
fn graph(files: &[Src]) -> BTreeMap<String, BTreeSet<String>> {
    let by_module: BTreeMap<&[String], &str> = files
        .iter()
        .map(|f| (f.module.as_slice(), f.rel.as_str()))
        .collect();
    let mut g = BTreeMap::new();
    for f in files {
        let mut to = BTreeSet::new();
        for p in named_paths(f) {
            for k in (1..=p.len()).rev() {
                if let Some(t) = by_module.get(&p[..k]) {
                    if *t != f.rel {
                        to.insert(t.to_string());
                    }
                    break;
                }
            }
        }
        g.insert(f.rel.clone(), to);
    }
    g
}

/// The top-level module a file belongs to (`domain`, `storage`, …, or its own name).
fn layer(rel: &str) -> &str {
    rel.split('/').next().unwrap_or(rel).trim_end_matches(".rs")
}

fn upward(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for (from, tos) in g {
        for (l, banned, why) in FORBIDDEN {
            if layer(from) != *l {
                continue;
            }
            for to in tos {
                if banned.contains(&layer(to)) {
                    out.push(format!("{from} names {to} ({why})"));
                }
            }
        }
    }
    out
}

/// Groups of files that import each other (strongly connected components).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan, iteratively simple enough for a few dozen files: recursion is fine
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.stack.contains(&w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn sources() -> Vec<Src> {
    let top = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    load(&top, &top, &mut files);
    assert!(files.len() > 40, "hub/src not found");
    files
}

#[test]
fn layers_point_one_way() {
    let g = graph(&sources());
    let bad = upward(&g);
    assert!(
        bad.is_empty(),
        "imports against the layers (methods -> domain -> storage; background -> domain):\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_two_files_import_each_other() {
    let found = cycles(&graph(&sources()));
    assert!(
        found.is_empty(),
        "these files import each other (directly or around a loop): {found:?}"
    );
}

#[test]
fn sql_lives_in_storage() {
    let mut bad = Vec::new();
    for f in sources() {
        if f.rel.starts_with("storage/") || SQL_ELSEWHERE.iter().any(|(n, _)| *n == f.rel) {
            continue;
        }
        for line in code(&f.text).lines() {
            if line.contains("sqlx::query") {
                bad.push(format!("{}: {}", f.rel, line.trim()));
            }
        }
    }
    assert!(bad.is_empty(), "SQL outside storage/:\n{}", bad.join("\n"));
}

#[test]
fn no_number_is_cast_to_an_id() {
    let mut bad = Vec::new();
    for f in sources() {
        if CASTS_ALLOWED.iter().any(|(n, _)| *n == f.rel) {
            continue;
        }
        for line in code(&f.text).lines() {
            if line.contains(" as i32") {
                bad.push(format!("{}: {}", f.rel, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "`as i32` wraps a number into some other id; check it (signature::checked_id, \
         i32::try_from) instead:\n{}",
        bad.join("\n")
    );
}

fn src(rel: &str, text: &str) -> Src {
    Src {
        rel: rel.into(),
        module: module_of(rel),
        text: text.into(),
    }
}

#[test]
fn the_check_sees_upward_imports_and_loops() {
    let files = vec![
        src(
            "lib.rs",
            "pub mod domain; pub mod methods; pub mod storage;",
        ),
        src("methods/mod.rs", "pub mod tags;"),
        src("methods/tags.rs", "use crate::domain::tags;"),
        src("domain/mod.rs", "pub mod tags; pub mod builds;"),
        // an upward import hidden in a use-list, and one through super::super
        src(
            "domain/tags.rs",
            "use crate::{ctx::Ctx, storage::{self, tags as store}};\nuse super::super::methods::tags::x;",
        ),
        src("domain/builds.rs", "fn f() { super::tags::g() }"),
        src("storage/mod.rs", "pub mod tags;"),
        // storage reaching up, and a loop back
        src(
            "storage/tags.rs",
            "// crate::methods in a comment is fine\nuse crate::domain::builds::B;",
        ),
    ];
    let g = graph(&files);
    assert!(g["domain/tags.rs"].contains("storage/tags.rs"));
    assert!(g["domain/tags.rs"].contains("methods/tags.rs"));
    assert!(g["domain/builds.rs"].contains("domain/tags.rs"));
    let bad = upward(&g);
    assert!(
        bad.iter()
            .any(|b| b.starts_with("domain/tags.rs names methods/tags.rs")),
        "{bad:?}"
    );
    assert!(
        bad.iter()
            .any(|b| b.starts_with("storage/tags.rs names domain/builds.rs")),
        "{bad:?}"
    );
    assert_eq!(bad.len(), 2, "{bad:?}");
    let loops = cycles(&g);
    assert_eq!(
        loops,
        vec![vec![
            "domain/builds.rs".to_string(),
            "domain/tags.rs".to_string(),
            "methods/tags.rs".to_string(),
            "storage/tags.rs".to_string(),
        ]],
    );
}
