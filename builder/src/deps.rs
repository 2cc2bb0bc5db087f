//! Checking an SRPM's BuildRequires against a buildroot repo's metadata.
//!
//! Why the builder does this itself: builds run with plain `rpmbuild --nodeps` on the host
//! (there is no chroot to install a buildroot into), so nothing else would notice that a
//! build tag lacks a build dependency. Checking the requirements against the very repo
//! the build was given makes a missing dependency fail the build with a clear reason, as
//! it would in Koji's mock buildroot, instead of building against whatever the host has.
//!
//! Matching follows rpm's rules: a requirement is met by a package's provides (same
//! name, and overlapping version ranges compared with rpmvercmp on epoch:version-release,
//! the release only when both sides have one), by a file the package contains, or — for
//! rich (boolean) dependencies — by the expression's logic.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use kkoji_repodata::{DepFlag, Dependency, PackageMeta};

/// RPMSENSE comparison bits (rpm's `RPMSENSE_LESS/GREATER/EQUAL`).
pub const SENSE_LESS: u32 = 1 << 1;
pub const SENSE_GREATER: u32 = 1 << 2;
pub const SENSE_EQUAL: u32 = 1 << 3;
const SENSE_MASK: u32 = SENSE_LESS | SENSE_GREATER | SENSE_EQUAL;
/// `RPMSENSE_RPMLIB`: a feature of rpm itself, not a package.
const SENSE_RPMLIB: u32 = 1 << 24;

/// rpm's version segment comparison, shared with the repodata merge rules.
pub use kkoji_repodata::rpmvercmp;

/// An epoch:version-release as dependencies carry it; epoch and release may be absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evr {
    pub epoch: Option<String>,
    pub version: String,
    pub release: Option<String>,
}

impl Evr {
    /// rpm's parsing: leading digits followed by `:` are the epoch, the part after the
    /// last `-` is the release.
    pub fn parse(s: &str) -> Evr {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch, rest) = if s.as_bytes().get(digits) == Some(&b':') {
            let e = &s[..digits];
            (
                Some(if e.is_empty() { "0" } else { e }.to_owned()),
                &s[digits + 1..],
            )
        } else {
            (None, s)
        };
        let (version, release) = match rest.rfind('-') {
            Some(i) => (&rest[..i], Some(rest[i + 1..].to_owned())),
            None => (rest, None),
        };
        Evr {
            epoch,
            version: version.to_owned(),
            release,
        }
    }

    fn from_dep(d: &Dependency) -> Option<Evr> {
        let version = d.ver.clone().filter(|v| !v.is_empty())?;
        Some(Evr {
            epoch: d.epoch.clone().filter(|e| !e.is_empty()),
            version,
            release: d.rel.clone().filter(|r| !r.is_empty()),
        })
    }

    /// rpm's `rpmverCmp`: a missing epoch counts as 0; releases are compared only when
    /// both sides have one (`foo >= 1.0` is met by `foo-1.0-5`).
    pub fn compare(&self, other: &Evr) -> Ordering {
        let e1 = self.epoch.as_deref().unwrap_or("0");
        let e2 = other.epoch.as_deref().unwrap_or("0");
        rpmvercmp(e1, e2)
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(r1), Some(r2)) => rpmvercmp(r1, r2),
                _ => Ordering::Equal,
            })
    }
}

impl fmt::Display for Evr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = &self.epoch {
            write!(f, "{e}:")?;
        }
        f.write_str(&self.version)?;
        if let Some(r) = &self.release {
            write!(f, "-{r}")?;
        }
        Ok(())
    }
}

/// rpm's `rpmdsCompare` on the version part: do the ranges `A` (e.g. a provide
/// `= 1.2-3`) and `B` (e.g. a requirement `>= 1.0`) overlap? An unversioned side matches
/// anything.
pub fn ranges_overlap(a_sense: u32, a: Option<&Evr>, b_sense: u32, b: Option<&Evr>) -> bool {
    let (a_sense, b_sense) = (a_sense & SENSE_MASK, b_sense & SENSE_MASK);
    let (Some(a), Some(b)) = (a, b) else {
        return true;
    };
    if a_sense == 0 || b_sense == 0 {
        return true;
    }
    match a.compare(b) {
        Ordering::Less => a_sense & SENSE_GREATER != 0 || b_sense & SENSE_LESS != 0,
        Ordering::Greater => a_sense & SENSE_LESS != 0 || b_sense & SENSE_GREATER != 0,
        Ordering::Equal => {
            (a_sense & SENSE_EQUAL != 0 && b_sense & SENSE_EQUAL != 0)
                || (a_sense & SENSE_LESS != 0 && b_sense & SENSE_LESS != 0)
                || (a_sense & SENSE_GREATER != 0 && b_sense & SENSE_GREATER != 0)
        }
    }
}

fn flag_sense(f: Option<DepFlag>) -> u32 {
    match f {
        None => 0,
        Some(DepFlag::Lt) => SENSE_LESS,
        Some(DepFlag::Gt) => SENSE_GREATER,
        Some(DepFlag::Eq) => SENSE_EQUAL,
        Some(DepFlag::Le) => SENSE_LESS | SENSE_EQUAL,
        Some(DepFlag::Ge) => SENSE_GREATER | SENSE_EQUAL,
    }
}

fn sense_op(sense: u32) -> &'static str {
    match sense & SENSE_MASK {
        SENSE_LESS => "<",
        SENSE_GREATER => ">",
        SENSE_EQUAL => "=",
        x if x == SENSE_LESS | SENSE_EQUAL => "<=",
        x if x == SENSE_GREATER | SENSE_EQUAL => ">=",
        _ => "",
    }
}

/// One requirement of a source package (a BuildRequires), as read from its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub name: String,
    /// RPMSENSE flags as in the header (only the comparison and rpmlib bits matter here).
    pub flags: u32,
    /// The version string (`[E:]V[-R]`), empty when unversioned.
    pub version: String,
}

impl Requirement {
    pub fn new(name: impl Into<String>, flags: u32, version: impl Into<String>) -> Self {
        Requirement {
            name: name.into(),
            flags,
            version: version.into(),
        }
    }

    /// Requirements on rpm's own features (`rpmlib(...)`) say nothing about the repo.
    pub fn is_rpmlib(&self) -> bool {
        self.name.starts_with("rpmlib(") || self.flags & SENSE_RPMLIB != 0
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = sense_op(self.flags);
        if op.is_empty() || self.version.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{} {op} {}", self.name, self.version)
        }
    }
}

/// The result of checking requirements: which package met each one, and which are unmet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepReport {
    /// (requirement as text, the NEVRA of a package that meets it)
    pub met: Vec<(String, String)>,
    /// Requirements nothing in the repo meets, as text.
    pub unmet: Vec<String>,
    /// `rpmlib(...)` requirements that were not checked.
    pub skipped: Vec<String>,
}

/// One provide of a package: (package index, RPMSENSE bits, version).
type Provide = (usize, u32, Option<Evr>);

/// A repo's packages indexed by what they provide and by their files.
pub struct RepoIndex<'a> {
    pkgs: &'a [PackageMeta],
    provides: HashMap<&'a str, Vec<Provide>>,
    files: HashMap<&'a str, Vec<usize>>,
}

impl<'a> RepoIndex<'a> {
    /// Source packages (in a repo made with `src`) are not installable and never count.
    pub fn new(pkgs: &'a [PackageMeta]) -> Self {
        let mut provides: HashMap<&'a str, Vec<Provide>> = HashMap::new();
        let mut files: HashMap<&'a str, Vec<usize>> = HashMap::new();
        for (i, p) in pkgs.iter().enumerate() {
            if p.arch == "src" || p.arch == "nosrc" {
                continue;
            }
            // every package provides its own name at its own version, whether or not
            // the header says so (as libsolv assumes)
            provides.entry(p.name.as_str()).or_default().push((
                i,
                SENSE_EQUAL,
                Some(Evr {
                    epoch: Some(p.epoch.clone()).filter(|e| !e.is_empty()),
                    version: p.version.clone(),
                    release: Some(p.release.clone()),
                }),
            ));
            for d in &p.provides {
                provides.entry(d.name.as_str()).or_default().push((
                    i,
                    flag_sense(d.flags),
                    Evr::from_dep(d),
                ));
            }
            for f in &p.files {
                files.entry(f.path.as_str()).or_default().push(i);
            }
        }
        RepoIndex {
            pkgs,
            provides,
            files,
        }
    }

    /// The packages meeting a simple (non-boolean) requirement.
    fn providers(&self, name: &str, sense: u32, evr: Option<&Evr>) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .provides
            .get(name)
            .into_iter()
            .flatten()
            .filter(|(_, psense, pevr)| ranges_overlap(*psense, pevr.as_ref(), sense, evr))
            .map(|(i, _, _)| *i)
            .collect();
        if name.starts_with('/') {
            out.extend(self.files.get(name).into_iter().flatten().copied());
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn nevra(&self, i: usize) -> String {
        self.pkgs.get(i).map(PackageMeta::nevra).unwrap_or_default()
    }

    /// Which package (NEVRA) meets `req`, if any. Boolean (rich) dependencies are
    /// evaluated; one that cannot be parsed is unmet.
    pub fn satisfy(&self, req: &Requirement) -> Option<String> {
        if req.name.starts_with('(') {
            let expr = parse_rich(&req.name)?;
            let mut used = Vec::new();
            return self.eval(&expr, &mut used).then(|| {
                let mut names: Vec<String> = used.into_iter().map(|i| self.nevra(i)).collect();
                names.sort();
                names.dedup();
                if names.is_empty() {
                    "(condition not applicable)".to_owned()
                } else {
                    names.join(", ")
                }
            });
        }
        let evr = (!req.version.is_empty()).then(|| Evr::parse(&req.version));
        self.providers(&req.name, req.flags, evr.as_ref())
            .first()
            .map(|i| self.nevra(*i))
    }

    fn simple_providers(&self, d: &Simple) -> Vec<usize> {
        self.providers(&d.name, d.sense, d.evr.as_ref())
    }

    /// Evaluates a rich dependency for "could the buildroot satisfy this": conditions
    /// (`if`/`unless`) count as true when the repo has something for them.
    fn eval(&self, e: &Rich, used: &mut Vec<usize>) -> bool {
        match e {
            Rich::Simple(d) => match self.simple_providers(d).first() {
                Some(i) => {
                    used.push(*i);
                    true
                }
                None => false,
            },
            Rich::And(v) => v.iter().all(|x| self.eval(x, used)),
            Rich::Or(v) => v.iter().any(|x| self.eval(x, used)),
            Rich::If(a, cond, otherwise) => {
                if self.eval(cond, &mut Vec::new()) {
                    self.eval(a, used)
                } else {
                    match otherwise {
                        Some(b) => self.eval(b, used),
                        None => true,
                    }
                }
            }
            Rich::Unless(a, cond, otherwise) => {
                if self.eval(a, used) {
                    return true;
                }
                match otherwise {
                    Some(b) => self.eval(cond, &mut Vec::new()) && self.eval(b, used),
                    None => self.eval(cond, used),
                }
            }
            Rich::With(a, b) => self.same_package(a, b, true, used),
            Rich::Without(a, b) => self.same_package(a, b, false, used),
        }
    }

    /// `A with B` / `A without B`: one package must (not) meet both.
    fn same_package(&self, a: &Rich, b: &Rich, with: bool, used: &mut Vec<usize>) -> bool {
        let set = |e: &Rich| -> Option<Vec<usize>> {
            match e {
                Rich::Simple(d) => Some(self.simple_providers(d)),
                _ => None,
            }
        };
        let (Some(sa), Some(sb)) = (set(a), set(b)) else {
            return false;
        };
        match sa.iter().find(|i| sb.contains(i) == with) {
            Some(i) => {
                used.push(*i);
                true
            }
            None => false,
        }
    }

    /// Checks every requirement; `rpmlib(...)` ones are skipped.
    pub fn check(&self, reqs: &[Requirement]) -> DepReport {
        let mut r = DepReport::default();
        for req in reqs {
            let text = req.to_string();
            if req.is_rpmlib() {
                r.skipped.push(text);
                continue;
            }
            match self.satisfy(req) {
                Some(by) => r.met.push((text, by)),
                None => {
                    if !r.unmet.contains(&text) {
                        r.unmet.push(text)
                    }
                }
            }
        }
        r
    }
}

/// A simple dependency inside a rich one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Simple {
    name: String,
    sense: u32,
    evr: Option<Evr>,
}

/// rpm's boolean dependencies (`(a or b)`, `(a if b else c)`, `(a with b)`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rich {
    Simple(Simple),
    And(Vec<Rich>),
    Or(Vec<Rich>),
    If(Box<Rich>, Box<Rich>, Option<Box<Rich>>),
    Unless(Box<Rich>, Box<Rich>, Option<Box<Rich>>),
    With(Box<Rich>, Box<Rich>),
    Without(Box<Rich>, Box<Rich>),
}

/// Splits a rich dependency into `(`, `)`, operators and names. A name may contain
/// balanced parentheses (`python3dist(setuptools)`), as in rpm's parser.
fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' if cur.is_empty() => out.push("(".into()),
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' if depth > 0 => {
                depth -= 1;
                cur.push(c);
            }
            ')' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(")".into());
            }
            c if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn parse_rich(s: &str) -> Option<Rich> {
    let toks = tokenize(s);
    let mut pos = 0;
    let e = parse_group(&toks, &mut pos)?;
    (pos == toks.len()).then_some(e)
}

/// `( operand [op operand]... )`
fn parse_group(t: &[String], pos: &mut usize) -> Option<Rich> {
    if t.get(*pos)?.as_str() != "(" {
        return None;
    }
    *pos += 1;
    let first = parse_operand(t, pos)?;
    let mut op: Option<String> = None;
    let mut operands = vec![first];
    while let Some(tok) = t.get(*pos) {
        if tok == ")" {
            *pos += 1;
            return build_rich(op.as_deref(), operands);
        }
        let this = tok.clone();
        if !matches!(
            this.as_str(),
            "and" | "or" | "if" | "else" | "unless" | "with" | "without"
        ) {
            return None;
        }
        *pos += 1;
        match (op.as_deref(), this.as_str()) {
            (None, _) => op = Some(this),
            (Some("if"), "else") => op = Some("if-else".into()),
            (Some("unless"), "else") => op = Some("unless-else".into()),
            (Some(a), b) if a == b && matches!(a, "and" | "or" | "with") => {}
            _ => return None,
        }
        operands.push(parse_operand(t, pos)?);
    }
    None
}

fn build_rich(op: Option<&str>, mut v: Vec<Rich>) -> Option<Rich> {
    let b = |x: Rich| Box::new(x);
    Some(match (op, v.len()) {
        (None, 1) => v.pop()?,
        (Some("and"), _) => Rich::And(v),
        (Some("or"), _) => Rich::Or(v),
        (Some("with"), 2) => {
            let y = v.pop()?;
            let x = v.pop()?;
            Rich::With(b(x), b(y))
        }
        (Some("without"), 2) => {
            let y = v.pop()?;
            let x = v.pop()?;
            Rich::Without(b(x), b(y))
        }
        (Some("if"), 2) | (Some("unless"), 2) => {
            let c = v.pop()?;
            let a = v.pop()?;
            if op == Some("if") {
                Rich::If(b(a), b(c), None)
            } else {
                Rich::Unless(b(a), b(c), None)
            }
        }
        (Some("if-else"), 3) | (Some("unless-else"), 3) => {
            let e = v.pop()?;
            let c = v.pop()?;
            let a = v.pop()?;
            if op == Some("if-else") {
                Rich::If(b(a), b(c), Some(b(e)))
            } else {
                Rich::Unless(b(a), b(c), Some(b(e)))
            }
        }
        _ => return None,
    })
}

/// A nested group, or `name [op version]`.
fn parse_operand(t: &[String], pos: &mut usize) -> Option<Rich> {
    let tok = t.get(*pos)?;
    if tok == "(" {
        return parse_group(t, pos);
    }
    if tok == ")" {
        return None;
    }
    let name = tok.clone();
    *pos += 1;
    let sense = match t.get(*pos).map(String::as_str) {
        Some("<") => SENSE_LESS,
        Some(">") => SENSE_GREATER,
        Some("=") | Some("==") => SENSE_EQUAL,
        Some("<=") => SENSE_LESS | SENSE_EQUAL,
        Some(">=") => SENSE_GREATER | SENSE_EQUAL,
        _ => {
            return Some(Rich::Simple(Simple {
                name,
                sense: 0,
                evr: None,
            }));
        }
    };
    *pos += 1;
    let v = t.get(*pos)?;
    if v == "(" || v == ")" {
        return None;
    }
    *pos += 1;
    Some(Rich::Simple(Simple {
        name,
        sense,
        evr: Some(Evr::parse(v)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kkoji_repodata::{FileKind, PackageFile};

    #[test]
    fn vercmp_matches_rpm() {
        use Ordering::*;
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("2.0", "2.0.1", Less),
            ("10", "9", Greater),
            ("1.010", "1.9", Greater),
            ("1.001", "1.1", Equal),
            ("1a", "1", Greater),
            ("1", "1a", Less),
            ("1.a", "1.1", Less),
            ("a", "1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1~pre", "1.0^git1", Less),
            ("1_0", "1.0", Equal),
            ("fc4", "fc.4", Equal),
            ("xyz", "xyz.4", Less),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("1.0aa", "1.0a", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(rpmvercmp(a, b), want, "rpmvercmp({a:?}, {b:?})");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "rpmvercmp({b:?}, {a:?})");
        }
    }

    #[test]
    fn evr_parse_and_compare() {
        assert_eq!(
            Evr::parse("1:2.0-3.fc40"),
            Evr {
                epoch: Some("1".into()),
                version: "2.0".into(),
                release: Some("3.fc40".into())
            }
        );
        assert_eq!(
            Evr::parse("2.0"),
            Evr {
                epoch: None,
                version: "2.0".into(),
                release: None
            }
        );
        // the release is the part after the last dash
        assert_eq!(Evr::parse("1.0-a-b").release.as_deref(), Some("b"));
        assert_eq!(Evr::parse(":1.0").epoch.as_deref(), Some("0"));
        assert_eq!(Evr::parse("1:2.0-3").to_string(), "1:2.0-3");

        let c = |a: &str, b: &str| Evr::parse(a).compare(&Evr::parse(b));
        assert_eq!(c("1:1.0-1", "2.0-1"), Ordering::Greater, "epoch wins");
        assert_eq!(c("0:1.0-1", "1.0-1"), Ordering::Equal, "no epoch is 0");
        assert_eq!(c("1.0-5", "1.0"), Ordering::Equal, "release only if both");
        assert_eq!(c("1.0-5", "1.0-10"), Ordering::Less);
    }

    #[test]
    fn range_overlap_like_rpmds() {
        let e = |s: &str| Some(Evr::parse(s));
        let ge = SENSE_GREATER | SENSE_EQUAL;
        let le = SENSE_LESS | SENSE_EQUAL;
        // provide = 2.0-1 against various requires
        let p = e("2.0-1");
        assert!(ranges_overlap(
            SENSE_EQUAL,
            p.as_ref(),
            ge,
            e("1.0").as_ref()
        ));
        assert!(ranges_overlap(
            SENSE_EQUAL,
            p.as_ref(),
            ge,
            e("2.0").as_ref()
        ));
        assert!(!ranges_overlap(
            SENSE_EQUAL,
            p.as_ref(),
            ge,
            e("2.1").as_ref()
        ));
        assert!(ranges_overlap(
            SENSE_EQUAL,
            p.as_ref(),
            le,
            e("2.0").as_ref()
        ));
        assert!(!ranges_overlap(
            SENSE_EQUAL,
            p.as_ref(),
            SENSE_LESS,
            e("2.0").as_ref()
        ));
        assert!(ranges_overlap(
            SENSE_EQUAL,
            p.as_ref(),
            SENSE_LESS,
            e("3").as_ref()
        ));
        assert!(ranges_overlap(
            SENSE_EQUAL,
            p.as_ref(),
            SENSE_EQUAL,
            e("2.0").as_ref()
        ));
        assert!(!ranges_overlap(
            SENSE_EQUAL,
            p.as_ref(),
            SENSE_EQUAL,
            e("2.0-2").as_ref()
        ));
        assert!(!ranges_overlap(
            SENSE_EQUAL,
            p.as_ref(),
            SENSE_GREATER,
            e("2.0").as_ref()
        ));
        assert!(!ranges_overlap(
            SENSE_EQUAL,
            p.as_ref(),
            ge,
            e("1:1.0").as_ref()
        ));
        // unversioned on either side matches
        assert!(ranges_overlap(0, None, ge, e("9").as_ref()));
        assert!(ranges_overlap(SENSE_EQUAL, p.as_ref(), 0, None));
        // a ranged provide (`Provides: foo >= 3`)
        assert!(ranges_overlap(ge, e("3").as_ref(), ge, e("4").as_ref()));
        assert!(!ranges_overlap(le, e("3").as_ref(), ge, e("4").as_ref()));
    }

    fn dep(name: &str, flags: Option<DepFlag>, ver: Option<&str>) -> Dependency {
        let evr = ver.map(Evr::parse);
        Dependency {
            name: name.into(),
            flags,
            epoch: evr.as_ref().and_then(|e| e.epoch.clone()),
            ver: evr.as_ref().map(|e| e.version.clone()),
            rel: evr.and_then(|e| e.release),
            pre: false,
        }
    }

    fn pkg(name: &str, ver: &str, provides: Vec<Dependency>, files: &[&str]) -> PackageMeta {
        PackageMeta {
            name: name.into(),
            arch: "noarch".into(),
            epoch: "0".into(),
            version: ver.into(),
            release: "1".into(),
            provides,
            files: files
                .iter()
                .map(|f| PackageFile {
                    path: (*f).into(),
                    kind: FileKind::File,
                })
                .collect(),
            ..PackageMeta::default()
        }
    }

    fn repo() -> Vec<PackageMeta> {
        vec![
            pkg(
                "gcc",
                "14.1",
                vec![dep("gcc", Some(DepFlag::Eq), Some("14.1-1"))],
                &["/usr/bin/gcc"],
            ),
            pkg(
                "python3-devel",
                "3.12.4",
                vec![
                    dep("python3-devel", Some(DepFlag::Eq), Some("3.12.4-1")),
                    dep("python3dist(setuptools)", Some(DepFlag::Eq), Some("69.0")),
                    dep("pkgconfig(python3)", None, None),
                ],
                &["/usr/include/python3.12/Python.h"],
            ),
            pkg("bash", "5.2", vec![], &["/bin/sh", "/usr/bin/bash"]),
            PackageMeta {
                arch: "src".into(),
                ..pkg("onlysource", "1", vec![], &[])
            },
        ]
    }

    fn req(name: &str, flags: u32, ver: &str) -> Requirement {
        Requirement::new(name, flags, ver)
    }

    #[test]
    fn plain_versioned_file_and_rpmlib_requires() {
        let pkgs = repo();
        let idx = RepoIndex::new(&pkgs);
        let ge = SENSE_GREATER | SENSE_EQUAL;
        let reqs = vec![
            req("gcc", 0, ""),
            req("gcc", ge, "14"),
            req("gcc", ge, "15"),
            req("gcc", SENSE_LESS, "14.1"),
            req("python3dist(setuptools)", ge, "40"),
            req("pkgconfig(python3)", ge, "3.12"),
            req("/usr/bin/gcc", 0, ""),
            req("/bin/sh", 0, ""),
            req("/usr/bin/clang", 0, ""),
            req("make", 0, ""),
            req("onlysource", 0, ""),
            req(
                "rpmlib(CompressedFileNames)",
                SENSE_LESS | SENSE_EQUAL,
                "3.0.4-1",
            ),
            req("rpmlib(Whatever)", SENSE_RPMLIB, ""),
            req("make", 0, ""),
        ];
        let r = idx.check(&reqs);
        assert_eq!(
            r.unmet,
            vec![
                "gcc >= 15",
                "gcc < 14.1",
                "/usr/bin/clang",
                "make",
                "onlysource"
            ]
        );
        assert_eq!(r.skipped.len(), 2);
        let by: HashMap<String, String> = r.met.into_iter().collect();
        assert_eq!(by["gcc"], "gcc-0:14.1-1.noarch");
        assert_eq!(by["gcc >= 14"], "gcc-0:14.1-1.noarch");
        assert_eq!(
            by["python3dist(setuptools) >= 40"],
            "python3-devel-0:3.12.4-1.noarch"
        );
        // an unversioned provide meets a versioned requirement (rpm's rule)
        assert!(by.contains_key("pkgconfig(python3) >= 3.12"));
        assert_eq!(by["/bin/sh"], "bash-0:5.2-1.noarch");
    }

    #[test]
    fn implicit_self_provide_and_epochs() {
        let mut p = pkg("foo", "1.0", vec![], &[]);
        p.epoch = "2".into();
        let pkgs = vec![p];
        let idx = RepoIndex::new(&pkgs);
        let ge = SENSE_GREATER | SENSE_EQUAL;
        assert!(idx.satisfy(&req("foo", ge, "1:5.0")).is_some());
        assert!(idx.satisfy(&req("foo", ge, "3:0.1")).is_none());
        assert!(idx.satisfy(&req("foo", SENSE_EQUAL, "2:1.0-1")).is_some());
    }

    #[test]
    fn rich_dependencies() {
        let pkgs = repo();
        let idx = RepoIndex::new(&pkgs);
        let ok = |s: &str| idx.satisfy(&req(s, 0, "")).is_some();
        assert!(ok("(gcc or clang)"));
        assert!(!ok("(clang or tcc)"));
        assert!(ok("(gcc and bash)"));
        assert!(!ok("(gcc and clang)"));
        assert!(ok("(gcc >= 14 and (bash or zsh))"));
        assert!(!ok("(gcc >= 15 or zsh)"));
        assert!(ok("(clang if zsh)"), "condition not in the repo");
        assert!(!ok("(clang if bash)"));
        assert!(ok("(clang if zsh else gcc)"));
        assert!(ok("(clang unless bash)"));
        assert!(ok("(python3-devel with python3dist(setuptools) >= 60)"));
        assert!(!ok("(gcc with python3dist(setuptools))"));
        assert!(ok("(gcc without python3dist(setuptools))"));
        assert!(ok(
            "(pkgconfig(python3) >= 3 and (python3dist(setuptools) or zsh))"
        ));
        assert!(!ok("(pkgconfig(python4) or zsh)"));
        // malformed: unmet rather than guessed
        assert!(!ok("(gcc or"));
        assert!(!ok("(gcc and bash or zsh)"));
        let r = idx.check(&[req("(clang or tcc)", 0, "")]);
        assert_eq!(r.unmet, vec!["(clang or tcc)"]);
    }

    #[test]
    fn requirement_display() {
        assert_eq!(req("foo", 0, "").to_string(), "foo");
        assert_eq!(
            req("foo", SENSE_GREATER | SENSE_EQUAL, "1:2.0").to_string(),
            "foo >= 1:2.0"
        );
        assert_eq!(req("foo", SENSE_LESS, "2").to_string(), "foo < 2");
        assert_eq!(req("foo", SENSE_EQUAL, "2-1").to_string(), "foo = 2-1");
    }
}
