//! Which upstream packages a repo mirrors: include/exclude globs and `newest_only`.

use std::collections::HashMap;

use kkoji_repodata::{PackageMeta, rpmvercmp};

/// Shell-style glob with `*`, `?` and `[…]`, whole-string.
pub fn glob_match(pat: &str, s: &str) -> bool {
    fn inner(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len()).any(|i| inner(rest, s.get(i..).unwrap_or(&[]))),
            Some(('?', rest)) => !s.is_empty() && inner(rest, s.get(1..).unwrap_or(&[])),
            Some(('[', rest)) => {
                let Some(close) = rest.iter().position(|c| *c == ']') else {
                    return s.first() == Some(&'[') && inner(rest, s.get(1..).unwrap_or(&[]));
                };
                let Some(c) = s.first() else { return false };
                let set = rest.get(..close).unwrap_or(&[]);
                let (neg, set) = match set.split_first() {
                    Some(('!' | '^', r)) => (true, r),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != neg
                    && inner(
                        rest.get(close + 1..).unwrap_or(&[]),
                        s.get(1..).unwrap_or(&[]),
                    )
            }
            Some((c, rest)) => s.first() == Some(c) && inner(rest, s.get(1..).unwrap_or(&[])),
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let s: Vec<char> = s.chars().collect();
    inner(&p, &s)
}

/// A glob matches the package name or its file name (`foo-1.0-1.noarch.rpm`).
fn matches(pats: &[String], p: &PackageMeta) -> bool {
    let file = p
        .location_href
        .rsplit('/')
        .next()
        .unwrap_or(&p.location_href);
    pats.iter()
        .any(|g| glob_match(g, &p.name) || glob_match(g, file))
}

fn evr_cmp(a: &PackageMeta, b: &PackageMeta) -> std::cmp::Ordering {
    rpmvercmp(&a.epoch, &b.epoch)
        .then_with(|| rpmvercmp(&a.version, &b.version))
        .then_with(|| rpmvercmp(&a.release, &b.release))
}

/// Applies include, exclude and newest_only, keeping upstream order.
pub fn select(
    pkgs: Vec<PackageMeta>,
    include: &[String],
    exclude: &[String],
    newest_only: bool,
) -> Vec<PackageMeta> {
    let mut kept: Vec<PackageMeta> = pkgs
        .into_iter()
        .filter(|p| include.is_empty() || matches(include, p))
        .filter(|p| !matches(exclude, p))
        .collect();
    if newest_only {
        let mut best: HashMap<(String, String), usize> = HashMap::new();
        for (i, p) in kept.iter().enumerate() {
            let key = (p.name.clone(), p.arch.clone());
            match best.get(&key) {
                Some(&j) if evr_cmp(&kept[j], p).is_ge() => {}
                _ => {
                    best.insert(key, i);
                }
            }
        }
        let mut keep: Vec<bool> = vec![false; kept.len()];
        for i in best.values() {
            if let Some(k) = keep.get_mut(*i) {
                *k = true;
            }
        }
        let mut it = keep.into_iter();
        kept.retain(|_| it.next().unwrap_or(false));
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, v: &str, r: &str) -> PackageMeta {
        PackageMeta {
            name: name.into(),
            arch: "noarch".into(),
            epoch: "0".into(),
            version: v.into(),
            release: r.into(),
            location_href: format!("Packages/{name}-{v}-{r}.noarch.rpm"),
            ..Default::default()
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("kernel*", "kernel-core"));
        assert!(glob_match("*.src.rpm", "a-1-1.src.rpm"));
        assert!(!glob_match("kernel*", "akernel"));
        assert!(glob_match("f?o", "foo"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[!a-c]x", "bx"));
    }

    #[test]
    fn include_exclude_newest() {
        let all = vec![
            pkg("foo", "1.0", "1"),
            pkg("foo", "1.10", "1"),
            pkg("foo", "1.9", "1"),
            pkg("bar", "2", "1"),
            pkg("kernel-debug", "6", "1"),
        ];
        let names = |v: Vec<PackageMeta>| v.iter().map(|p| p.nevra()).collect::<Vec<_>>();
        assert_eq!(
            names(select(all.clone(), &[], &["*debug*".into()], true)),
            ["foo-0:1.10-1.noarch", "bar-0:2-1.noarch"]
        );
        assert_eq!(
            names(select(all, &["bar".into()], &[], false)),
            ["bar-0:2-1.noarch"]
        );
    }
}
