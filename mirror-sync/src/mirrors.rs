//! Turning a repo's upstream settings into the list of base URLs to try, in order:
//! the configured URLs, then the mirrors of its mirror list or metalink.

use crate::transport::Transport;

/// Base URLs of a yum mirror list: one per line, `#` comments.
pub fn parse_mirrorlist(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| l.starts_with("http://") || l.starts_with("https://"))
        .map(str::to_owned)
        .collect()
}

/// Base URLs of a metalink: its `<url>` elements (which end in `repodata/repomd.xml`),
/// http(s) only, in document order (Fedora orders them by preference).
pub fn parse_metalink(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<url") {
        rest = &rest[start + 4..];
        let Some(gt) = rest.find('>') else { break };
        let Some(end) = rest.find("</url>") else {
            break;
        };
        if end < gt {
            continue;
        }
        let url = rest[gt + 1..end].trim().replace("&amp;", "&");
        rest = &rest[end + 6..];
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            continue;
        }
        let base = url
            .strip_suffix("repodata/repomd.xml")
            .unwrap_or(&url)
            .to_owned();
        out.push(base);
    }
    out
}

/// Every base URL of a repo; a list that cannot be fetched is logged and skipped, as
/// long as some mirror remains.
pub async fn resolve(
    t: &Transport,
    urls: &[String],
    mirrorlist: Option<&str>,
    metalink: Option<&str>,
) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = urls.to_vec();
    let mut errors = Vec::new();
    for (list, is_metalink) in [(mirrorlist, false), (metalink, true)] {
        let Some(list) = list else { continue };
        match t.fetch_bytes(list, 4 << 20).await {
            Ok(b) => {
                let text = String::from_utf8_lossy(&b);
                let found = if is_metalink {
                    parse_metalink(&text)
                } else {
                    parse_mirrorlist(&text)
                };
                if found.is_empty() {
                    errors.push(format!("{list}: lists no http(s) mirror"));
                }
                out.extend(found);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|u| seen.insert(u.clone()));
    if out.is_empty() {
        return Err(errors.join("; "));
    }
    for e in errors {
        tracing::warn!("{e}");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(
            parse_mirrorlist("# c\nhttp://a/x/\n\nftp://b/\nhttps://c/y/\n"),
            ["http://a/x/", "https://c/y/"]
        );
        let ml = r#"<metalink><files><file name="repomd.xml"><resources>
<url protocol="rsync" type="rsync">rsync://r/repodata/repomd.xml</url>
<url protocol="https" type="https" location="DE" preference="100">https://m1/f/40/x86_64/os/repodata/repomd.xml</url>
<url protocol="http" type="http">http://m2/os/repodata/repomd.xml</url>
</resources></file></files></metalink>"#;
        assert_eq!(
            parse_metalink(ml),
            ["https://m1/f/40/x86_64/os/", "http://m2/os/"]
        );
    }
}
