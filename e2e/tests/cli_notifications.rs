//! Build notifications through the stock koji CLI, on a farm whose hub sends mail through
//! an SMTP sink the test runs (`kkoji-quickstart --mail-relay`): `add-notification`,
//! `list-notifications` (`--mine`, `--user`), `edit-notification`, `block-notification`,
//! `unblock-notification`, `remove-notification` with what a Koji user reads, their
//! refusals, and the mail a real build and an untag send to who follows them.

#[path = "../../hub/tests/common/smtp_sink.rs"]
mod smtp_sink;

use std::time::Duration;

use kkoji_e2e::builds::{Spec, add_target, make_srpm};
use kkoji_e2e::{Farm, Output};
use smtp_sink::SmtpSink;

kkoji_e2e::isolated_main!(notifications_from_the_cli_and_the_mail_they_send);

const BUILD_TIMEOUT: Duration = Duration::from_secs(240);
/// The hub's mailer looks for due mail every 10 s by default.
const MAIL_DEADLINE: Duration = Duration::from_secs(120);

fn lines(out: &Output) -> Vec<String> {
    out.lines()
        .iter()
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// The notification ids `list-notifications` shows (first column of the table rows).
fn listed_ids(out: &Output, section: &str) -> Vec<i64> {
    let all = lines(out);
    let Some(start) = all.iter().position(|l| l == section) else {
        return Vec::new();
    };
    all[start + 3..]
        .iter()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

fn notifications_from_the_cli_and_the_mail_they_send() {
    let sink = SmtpSink::start();
    let farm = Farm::start_with(&["--mail-relay", &sink.url()]);
    add_target(&farm, "nt", &["ntfoo"]);

    // alice follows the tag; a new user starts with nothing
    let out = farm
        .koji_as("alice", &["list-notifications", "--mine"])
        .ok();
    assert_eq!(
        lines(&out),
        ["No notifications", "", "No notification blocks"],
        "{out}"
    );
    farm.koji_as("alice", &["add-notification", "--tag", "nt"])
        .ok();
    // the admin subscribes her to successes of ntfoo anywhere
    farm.koji(&[
        "add-notification",
        "--user",
        "alice",
        "--package",
        "ntfoo",
        "--success-only",
    ])
    .ok();
    let out = farm
        .koji_as("alice", &["list-notifications", "--mine"])
        .ok();
    let ids = listed_ids(&out, "Notifications");
    assert_eq!(ids.len(), 2, "{out}");
    let head = format!(
        "{:>6} {:<25} {:<25} {:<20} {:<12}",
        "ID", "Tag", "Package", "E-mail", "Success-only"
    );
    let want = vec![
        "Notifications".to_string(),
        head.trim_end().to_string(),
        "-".repeat(head.len()),
        format!(
            "{:>6} {:<25} {:<25} {:<20} {:<12}",
            ids[0], "nt", "*", "alice@localhost", "no"
        )
        .trim_end()
        .to_string(),
        format!(
            "{:>6} {:<25} {:<25} {:<20} {:<12}",
            ids[1], "*", "ntfoo", "alice@localhost", "yes"
        )
        .trim_end()
        .to_string(),
        String::new(),
        "No notification blocks".to_string(),
    ];
    assert_eq!(lines(&out), want, "{out}");
    // anyone may list them by user
    let by_user = farm.koji(&["list-notifications", "--user", "alice"]).ok();
    assert_eq!(lines(&by_user), want);

    // edit: the package one now follows nt-build, for every outcome
    let second = ids[1].to_string();
    farm.koji_as(
        "alice",
        &[
            "edit-notification",
            &second,
            "--tag",
            "nt-build",
            "--no-success-only",
        ],
    )
    .ok();
    let out = farm
        .koji_as("alice", &["list-notifications", "--mine"])
        .ok();
    assert!(
        lines(&out).iter().any(|l| l
            == format!(
                "{:>6} {:<25} {:<25} {:<20} {:<12}",
                ids[1], "nt-build", "ntfoo", "alice@localhost", "no"
            )
            .trim_end()),
        "{out}"
    );

    // a block, then unblock it
    farm.koji_as("alice", &["block-notification", "--tag", "nt-build"])
        .ok();
    let out = farm
        .koji_as("alice", &["list-notifications", "--mine"])
        .ok();
    let blocks = listed_ids(&out, "Notification blocks");
    assert_eq!(blocks.len(), 1, "{out}");
    let block = blocks[0].to_string();
    let out = farm
        .koji_as("alice", &["unblock-notification", &block])
        .ok();
    assert_eq!(
        lines(&out),
        [format!("Notification block {block} successfully removed.")]
    );

    // refusals: each says why and changes nothing
    let before = lines(
        &farm
            .koji_as("alice", &["list-notifications", "--mine"])
            .ok(),
    );
    let out = farm
        .koji_as("alice", &["add-notification", "--tag", "no-such-tag"])
        .fails_with(2);
    assert!(out.stderr.contains("No such tag: no-such-tag"), "{out}");
    let out = farm
        .koji_as("alice", &["add-notification", "--package", "no-such-pkg"])
        .fails_with(2);
    assert!(out.stderr.contains("No such package: no-such-pkg"), "{out}");
    let out = farm
        .koji_as(
            "alice",
            &["add-notification", "--user", "kojiadmin", "--tag", "nt"],
        )
        .fails_with(2);
    assert!(
        out.stderr.contains("--user requires admin permission"),
        "{out}"
    );
    let out = farm
        .koji_as("bob", &["remove-notification", &second])
        .fails_with(1);
    assert!(
        out.stderr.contains("cannot delete notifications for user"),
        "{out}"
    );
    let out = farm
        .koji_as("alice", &["add-notification", "--tag", "nt"])
        .fails_with(1);
    assert!(out.stderr.contains("notification already exists"), "{out}");
    let out = farm
        .koji_as("alice", &["remove-notification", "99999"])
        .fails_with(1);
    assert!(
        out.stderr.contains("No notification with ID 99999 found"),
        "{out}"
    );
    assert_eq!(
        lines(
            &farm
                .koji_as("alice", &["list-notifications", "--mine"])
                .ok()
        ),
        before
    );

    // the mail: a real build into nt reaches alice (she follows nt) and the admin (owner of
    // the build and of the package in nt)
    let dir = farm.work_dir("notify-build");
    let srpm = make_srpm(&dir, "ntfoo", Spec::Noarch);
    let file = srpm.file_name().and_then(|f| f.to_str()).expect("name");
    let out = farm.koji_in_for(&dir, BUILD_TIMEOUT, &["build", "--wait", "nt", file]);
    assert!(
        out.status == Some(0),
        "build:\n{out}\n{}",
        farm.builder_log_tail(40)
    );
    let complete = |m: &smtp_sink::Delivered| {
        m.header("X-Koji-Status").as_deref() == Some("complete")
            && m.header("X-Koji-NVR").as_deref() == Some("ntfoo-1.0-1")
            && m.header("Subject").is_some_and(|s| s.starts_with("Build "))
    };
    let mails = sink.wait_for(MAIL_DEADLINE, "build mails", |ms| {
        ms.iter().filter(|m| complete(m)).count() >= 2
    });
    let mut to: Vec<String> = mails
        .iter()
        .filter(|m| complete(m))
        .flat_map(|m| m.to.clone())
        .collect();
    to.sort();
    assert_eq!(to, ["alice@localhost", "kojiadmin@localhost"]);
    let m = mails.iter().find(|m| complete(m)).expect("a build mail");
    assert_eq!(m.header("X-Koji-Tag").as_deref(), Some("nt"));
    assert!(m.body().contains("Status: complete"), "{}", m.body());

    // untag: a tag notification to the same people, naming the tag it left
    farm.koji(&["untag-build", "nt", "ntfoo-1.0-1"]).ok();
    let untagged = |m: &smtp_sink::Delivered| {
        m.header("Subject")
            .is_some_and(|s| s == "ntfoo-1.0-1 untagged from nt by kojiadmin")
    };
    let mails = sink.wait_for(MAIL_DEADLINE, "untag mails", |ms| {
        ms.iter().filter(|m| untagged(m)).count() >= 2
    });
    let m = mails.iter().find(|m| untagged(m)).expect("an untag mail");
    assert_eq!(m.header("X-Koji-User").as_deref(), Some("kojiadmin"));

    // remove-notification prints what it removed
    let first = ids[0].to_string();
    let out = farm.koji_as("alice", &["remove-notification", &first]).ok();
    assert_eq!(
        lines(&out),
        [format!("Notification {first} successfully removed.")]
    );
}
