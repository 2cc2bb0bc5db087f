//! docs/koji-compatibility.md stays true: its generated part is what scripts/koji-compat.py
//! makes of the stock CLI's source and of this hub's answers now (methods, signatures, an
//! anonymous call naming each method), the notes' demos still show the gaps they describe, and
//! `koji help` / `koji help --admin` list exactly the commands of the table.
//!
//! Regenerating the table is this test with `KKOJI_COMPAT_WRITE=1`:
//!
//! ```text
//! KKOJI_COMPAT_WRITE=1 cargo test -p kkoji-e2e --test koji_compat
//! ```

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kkoji_e2e::cli::{self, Output, run_with_timeout};
use kkoji_e2e::{Farm, PROFILE};

kkoji_e2e::isolated_main!(table_is_current, help_lists_exactly_the_table);

const REGENERATE: &str = "KKOJI_COMPAT_WRITE=1 cargo test -p kkoji-e2e --test koji_compat";

fn workspace() -> PathBuf {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR"));
    e2e.parent().unwrap_or(e2e).to_path_buf()
}

fn doc_path() -> PathBuf {
    workspace().join("docs").join("koji-compatibility.md")
}

/// Runs scripts/koji-compat.py against a fresh farm: `--check` (or `--write` when
/// KKOJI_COMPAT_WRITE=1), with the notes' demos.
fn table_is_current() {
    let farm = Farm::start_with(&["--no-builder"]);
    let write = std::env::var("KKOJI_COMPAT_WRITE").is_ok_and(|v| v == "1");
    // The venv is created on first use, like for every CLI test.
    cli::koji_bin();
    let mut cmd = Command::new(cli::venv_dir().join("bin").join("python"));
    cmd.arg(workspace().join("scripts").join("koji-compat.py"))
        .arg("-c")
        .arg(farm.koji_conf())
        .args(["-p", PROFILE])
        .arg(if write { "--write" } else { "--check" })
        .arg("--demos")
        // No ~/.koji/plugins of whoever runs the tests: the CLI sees what `koji help` sees here.
        .env("HOME", farm.root().join("home"))
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(farm.root().join("home"));
    let out = run_with_timeout(cmd, Duration::from_secs(600));
    assert!(
        out.status == Some(0) && !out.timed_out,
        "{} does not match what the CLI and the hub say (or a note's demo no longer shows \
         its gap); regenerate it with\n    {REGENERATE}\nand review the diff.\n{out}",
        doc_path().display()
    );
    if write {
        eprintln!("{}", out.stdout.trim_end());
    }
}

/// `koji help` (every category) and `koji help --admin` against the table's rows.
fn help_lists_exactly_the_table() {
    let home = tempfile::tempdir().expect("temporary HOME");
    let conf = home.path().join("koji.conf");
    // `koji help` needs a profile but no hub.
    fs::write(
        &conf,
        format!("[{PROFILE}]\nserver = https://127.0.0.1:9/kojihub\n"),
    )
    .expect("write koji.conf");
    let help = |extra: &[&str]| -> Output {
        let mut cmd = Command::new(cli::koji_bin());
        cmd.arg("-c")
            .arg(&conf)
            .args(["-p", PROFILE, "help"])
            .args(extra)
            .env("HOME", home.path())
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .current_dir(home.path());
        run_with_timeout(cmd, cli::command_timeout()).ok()
    };
    let all = help_commands(&help(&[]));
    let admin = help_commands(&help(&["--admin"]));
    let text = fs::read_to_string(doc_path()).expect("read docs/koji-compatibility.md");
    let rows = table_rows(&text);
    assert!(
        !rows.is_empty(),
        "no command rows in {}",
        doc_path().display()
    );

    let table: BTreeSet<(String, String)> = rows.iter().cloned().collect();
    assert!(
        all == table,
        "`koji help` and the table of {} differ (command, category): only in help {:?}, only \
         in the table {:?}; regenerate with\n    {REGENERATE}",
        doc_path().display(),
        all.difference(&table).collect::<Vec<_>>(),
        table.difference(&all).collect::<Vec<_>>(),
    );
    let table_admin: BTreeSet<(String, String)> = rows
        .into_iter()
        .filter(|(_, category)| category == "admin")
        .collect();
    assert!(!admin.is_empty(), "`koji help --admin` listed no command");
    assert!(
        admin == table_admin,
        "`koji help --admin` and the table's admin rows differ: only in help {:?}, only in the \
         table {:?}",
        admin.difference(&table_admin).collect::<Vec<_>>(),
        table_admin.difference(&admin).collect::<Vec<_>>(),
    );
}

/// (command, category) pairs of `koji help` output: a category header (`admin commands:`,
/// `miscellaneous commands:`) followed by indented `name  description` lines.
fn help_commands(out: &Output) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let mut category: Option<String> = None;
    for line in out.stdout.lines() {
        if let Some(header) = line.strip_suffix(" commands:") {
            category = Some(if header == "miscellaneous" {
                "misc".to_string()
            } else {
                header.to_string()
            });
        } else if line.starts_with("        ") {
            if let (Some(cat), Some(name)) = (&category, line.split_whitespace().next()) {
                found.insert((name.to_string(), cat.clone()));
            }
        } else if !line.trim().is_empty() {
            category = None;
        }
    }
    assert!(!found.is_empty(), "no commands found in:\n{out}");
    found
}

/// (command, category) of each row of the command table: ``| `name` | category | …``.
fn table_rows(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix("| `")?.split(" | ");
            let name = cells.next()?.strip_suffix('`')?;
            let category = cells.next()?;
            // The second table lists hub methods, whose second cell names commands.
            if category.starts_with('`') {
                return None;
            }
            Some((name.to_string(), category.to_string()))
        })
        .collect()
}
