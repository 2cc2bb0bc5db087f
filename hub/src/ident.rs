//! A thing named by id or by name: Koji lets callers name tags, users, hosts, channels,
//! packages, targets and external repos either way (`getTag(3)` by id, `getTag("3")` by
//! name). Ids are the schema's 32-bit ids: a wider number from the wire is refused where it
//! is read (`signature.rs`), so it never gets here.

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ident {
    Id(i32),
    Name(String),
}

impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ident::Id(i) => write!(f, "{i}"),
            Ident::Name(n) => write!(f, "{n}"),
        }
    }
}
