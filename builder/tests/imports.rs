//! No two files of builder/src import each other, directly or through others.
//!
//! The task handlers once lived in two files that imported each other (`tasks.rs` used
//! the repo half, `repotasks.rs` used the task context), and the config imported the
//! preparation code that imported the config. A loop hides which file is the lower layer,
//! and the next helper added to either side makes it worse. This check reads the sources:
//! every `crate::...` path (in `use` or inline, `{...}` groups expanded) is an edge from
//! its file to the file of the deepest module it names; any cycle fails the test, named
//! file by file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `tasks/build.rs` → `["tasks", "build"]`; `tasks/mod.rs` → `["tasks"]`; `lib.rs` → `[]`.
fn module_of(rel: &str) -> Vec<String> {
    let stem = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts
}

/// The code of a source file without what cannot import anything: comments (line, doc
/// and block), the contents of string and char literals (so that their braces and
/// slashes do not count), and `#[cfg(test)]` modules (a unit test may reach anywhere to
/// compare things; what the layers are is the code that ships).
fn skeleton(text: &str) -> String {
    let b = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let ident_before = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let hashes = rest.iter().skip(1).take_while(|c| **c == b'#').count();
        if rest.starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.extend_from_slice(b"\"\"");
        } else if b[i] == b'r' && !ident_before && rest.get(1 + hashes) == Some(&b'"') {
            // r"..." or r#"..."#: ends at a quote followed by as many #
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            i += 2 + hashes;
            while i < b.len() && !b[i..].starts_with(&close) {
                i += 1;
            }
            i += close.len();
            out.extend_from_slice(b"\"\"");
        } else if b[i] == b'\'' {
            // a char literal ('x', '\n', '"') or a lifetime ('a)
            let close = rest.iter().skip(1).position(|c| *c == b'\'').map(|p| p + 1);
            let is_char = close.is_some_and(|c| {
                let body = &rest[1..c];
                body.first() == Some(&b'\\')
                    || std::str::from_utf8(body).is_ok_and(|s| s.chars().count() == 1)
            });
            match close {
                Some(c) if is_char => {
                    i += c + 1;
                    out.extend_from_slice(b"' '");
                }
                _ => {
                    out.push(b'\'');
                    i += 1;
                }
            }
        } else if rest.starts_with(b"#[cfg(test)]")
            && String::from_utf8_lossy(&rest[12..])
                .trim_start()
                .starts_with("mod ")
        {
            // The rest of the file as a skeleton has balanced braces: the module ends
            // where its first brace closes.
            let tail = skeleton(&String::from_utf8_lossy(&rest[12..]));
            let mut depth = 0;
            let mut end = tail.len();
            for (k, c) in tail.bytes().enumerate() {
                if c == b'{' {
                    depth += 1;
                } else if c == b'}' {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
            }
            out.extend_from_slice(&tail.as_bytes()[end..]);
            break;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a path tree after `crate::`: `a::b`, `a::{b, c::{d, e}}`, `a::*`, `a as x`.
/// Returns the full paths and how many bytes were read.
fn path_tree(s: &[u8]) -> (Vec<Vec<String>>, usize) {
    let mut i = 0;
    let mut prefix: Vec<String> = Vec::new();
    loop {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < s.len() && s[i] == b'{' {
            i += 1;
            let mut all = Vec::new();
            loop {
                let (subs, n) = path_tree(&s[i..]);
                i += n;
                for sub in subs {
                    let mut p = prefix.clone();
                    p.extend(sub);
                    all.push(p);
                }
                while i < s.len() && s[i].is_ascii_whitespace() {
                    i += 1;
                }
                match s.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => break,
                }
                while i < s.len() && s[i].is_ascii_whitespace() {
                    i += 1;
                }
                if s.get(i) == Some(&b'}') {
                    i += 1;
                    break;
                }
            }
            return (all, i);
        }
        let start = i;
        while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'_') {
            i += 1;
        }
        if i == start {
            // `*` or nothing: the path ends here
            if s.get(i) == Some(&b'*') {
                i += 1;
            }
            return (vec![prefix], i);
        }
        prefix.push(String::from_utf8_lossy(&s[start..i]).into_owned());
        if s[i..].starts_with(b"::") {
            i += 2;
        } else {
            return (vec![prefix], i);
        }
    }
}

/// Every file's imports of other files: `file → files it names`.
fn import_graph(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeMap<Vec<String>, String> = files
        .keys()
        .map(|rel| (module_of(rel), rel.clone()))
        .collect();
    let mut graph = BTreeMap::new();
    for (rel, text) in files {
        let code = skeleton(text);
        let bytes = code.as_bytes();
        let mut edges = BTreeSet::new();
        let mut from = 0;
        while let Some(at) = code[from..].find("crate::") {
            let start = from + at;
            from = start + "crate::".len();
            // `kkoji_crate::x` or `my_crate::x` is not this crate
            if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
                continue;
            }
            let (paths, _) = path_tree(&bytes[from..]);
            for path in paths {
                let target = (1..=path.len()).rev().find_map(|n| modules.get(&path[..n]));
                if let Some(t) = target
                    && t != rel
                {
                    edges.insert(t.clone());
                }
            }
        }
        graph.insert(rel.clone(), edges);
    }
    graph
}

/// The import cycles, each as `a.rs -> b.rs -> a.rs`.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = BTreeSet::new();
    for start in graph.keys() {
        // shortest way back to `start`, breadth first
        let mut prev: BTreeMap<&String, &String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut back = None;
        while let Some(f) = queue.pop_front() {
            for t in graph.get(f).into_iter().flatten() {
                if t == start {
                    back = Some(f);
                    break;
                }
                if !prev.contains_key(t) {
                    prev.insert(t, f);
                    queue.push_back(t);
                }
            }
            if back.is_some() {
                break;
            }
        }
        if let Some(mut f) = back {
            let mut ring = vec![f.clone()];
            while f != start {
                f = prev[f];
                ring.push(f.clone());
            }
            ring.reverse();
            // one spelling per cycle: start from its smallest file
            let min = ring
                .iter()
                .enumerate()
                .min_by_key(|(_, r)| *r)
                .map_or(0, |m| m.0);
            ring.rotate_left(min);
            ring.push(ring[0].clone());
            found.insert(ring.join(" -> "));
        }
    }
    found.into_iter().collect()
}

#[test]
fn builder_files_do_not_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: BTreeMap<String, String> = paths
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).expect("under src");
            (
                rel.to_string_lossy().into_owned(),
                std::fs::read_to_string(p).expect("read source"),
            )
        })
        .collect();
    let graph = import_graph(&files);
    // the check sees what it must: the task table reaches every task kind's module
    let table = &graph["tasks/table.rs"];
    for kind in ["build", "build_arch", "tag_build", "new_repo", "createrepo"] {
        assert!(
            table.contains(&format!("tasks/{kind}.rs")),
            "tasks/table.rs -> {table:?}"
        );
    }
    let loops = cycles(&graph);
    assert!(
        loops.is_empty(),
        "builder/src files import each other; move what both need into a file below them:\n{}",
        loops.join("\n")
    );
}

#[test]
fn the_check_finds_loops() {
    let files: BTreeMap<String, String> = [
        ("lib.rs", "pub mod a; pub mod b; pub mod c; pub mod d; pub mod t;"),
        ("a.rs", "use crate::b::{self, Thing};\n// crate::c is only named here\n"),
        ("b.rs", "fn f() { crate::a::g(); }"),
        (
            "c.rs",
            "use crate::t::{x::{Y, Z}, w};\nfn f<'a>(s: &'a str) -> char { let _ = \"crate::d\"; '{' }\n\
             #[cfg(test)]\nmod tests {\n    fn g() { let _ = r#\"}\"#; crate::d::h(); }\n}\n",
        ),
        ("d.rs", "use crate::c;"),
        ("t/mod.rs", "pub mod x;"),
        ("t/x.rs", "use crate::{a, c as see};"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let graph = import_graph(&files);
    assert!(!graph["a.rs"].contains("c.rs"), "comments are not imports");
    assert!(
        !graph["c.rs"].contains("d.rs"),
        "strings and test modules are not imports: {:?}",
        graph["c.rs"]
    );
    assert!(graph["d.rs"].contains("c.rs"));
    assert_eq!(
        cycles(&graph),
        ["a.rs -> b.rs -> a.rs", "c.rs -> t/x.rs -> c.rs"]
    );
}
