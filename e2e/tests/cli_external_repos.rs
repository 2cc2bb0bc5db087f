//! The operator runbook, verbatim, and external repositories through the stock koji CLI.
//! All tests share one farm; each uses its own names.

use kkoji_e2e::{Farm, Output};

kkoji_e2e::shared_farm_main!(
    runbook_flow_verbatim,
    external_repo_without_tag_then_linked,
    remove_external_repo,
);

const FEDORA_URL: &str = "file:///mnt/koji/external-repos/www/fedora40-$arch/RPMS.os/";

#[track_caller]
fn repo_id(farm: &Farm, name: &str) -> i64 {
    let repo = farm.call_json(&["getExternalRepo", name]);
    repo["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("getExternalRepo {name}: no integer id in {repo}"))
}

fn trimmed(out: &Output) -> Vec<String> {
    out.lines()
        .iter()
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// The `--tag` listing format of `list-external-repos`.
fn tag_row(priority: i64, name: &str, mode: &str, url: &str) -> String {
    format!("{priority:<3} {name:<25} {mode:<10} {url}")
}

fn runbook_flow_verbatim(farm: &Farm) {
    let out = farm.koji(&["add-host", "builder01", "x86_64"]).ok();
    let host = farm.call_json(&["getHost", "builder01"]);
    out.stdout_is(&format!("builder01 added: id {}", host["id"]));

    farm.koji(&["edit-host", "builder01", "--capacity", "4.00"])
        .ok()
        .stdout_is("Edited builder01");
    let hosts = farm.koji(&["list-hosts"]).ok();
    let row = hosts.expect_row("builder01");
    assert_eq!(
        row[3], "0.0/4.0",
        "capacity 4.0 in builder01's row:\n{hosts}"
    );
    assert_eq!(
        row,
        ["builder01", "Y", "N", "0.0/4.0", "x86_64", "-"],
        "{hosts}"
    );

    farm.koji(&["add-tag", "f40-build", "--arches", "x86_64"])
        .ok()
        .stdout_empty();
    let out = farm
        .koji(&[
            "add-external-repo",
            "-t",
            "f40-build",
            "fedora-40",
            FEDORA_URL,
        ])
        .ok();
    let id = repo_id(farm, "fedora-40");
    out.stdout_is(&format!(
        "Created external repo {id}\nAdded external repo fedora-40 to tag f40-build (priority 5)"
    ));

    let repo = farm.call_json(&["getExternalRepo", "fedora-40"]);
    assert_eq!(repo["url"], FEDORA_URL, "`$arch` kept literally: {repo}");
    let list = farm.koji(&["list-external-repos"]).ok();
    assert_eq!(
        trimmed(&list)[..2],
        [
            format!("{:<25} URL", "External repo name"),
            format!("{} {}", "-".repeat(25), "-".repeat(40))
        ],
        "{list}"
    );
    assert!(
        list.lines()
            .contains(&format!("{:<25} {FEDORA_URL}", "fedora-40").as_str()),
        "{list}"
    );
    let by_tag = farm
        .koji(&["list-external-repos", "--tag", "f40-build"])
        .ok();
    assert_eq!(
        trimmed(&by_tag),
        [
            format!(
                "{:<3} {:<25} {:<10} URL",
                "Pri", "External repo name", "Mode"
            ),
            format!(
                "{} {} {} {}",
                "-".repeat(3),
                "-".repeat(25),
                "-".repeat(10),
                "-".repeat(40)
            ),
            tag_row(5, "fedora-40", "koji", FEDORA_URL),
        ],
        "{by_tag}"
    );
    let links = farm.call_json(&["getTagExternalRepos", "tag_info=f40-build"]);
    let links = links.as_array().expect("a list");
    assert_eq!(links.len(), 1, "{links:?}");
    let l = &links[0];
    assert_eq!(l["tag_name"], "f40-build", "{l}");
    assert_eq!(l["external_repo_name"], "fedora-40", "{l}");
    assert_eq!(l["external_repo_id"], id, "{l}");
    assert_eq!(l["priority"], 5, "{l}");
    assert_eq!(l["merge_mode"], "koji", "{l}");
    assert_eq!(l["url"], FEDORA_URL, "{l}");
}

fn external_repo_without_tag_then_linked(farm: &Farm) {
    let out = farm
        .koji(&[
            "add-external-repo",
            "ext-plain",
            "http://example.com/e2e/repo",
        ])
        .ok();
    let id = repo_id(farm, "ext-plain");
    out.stdout_is(&format!("Created external repo {id}"));
    // The hub appends the trailing slash.
    farm.koji(&["list-external-repos", "--quiet", "--name", "ext-plain"])
        .ok()
        .stdout_is(&format!("{:<25} http://example.com/e2e/repo/", "ext-plain"));

    farm.koji(&["add-tag", "ext-tag1", "--arches", "x86_64"])
        .ok();
    // Existing repo, explicit priority.
    farm.koji(&["add-external-repo", "-t", "ext-tag1::10", "ext-plain"])
        .ok()
        .stdout_is("Added external repo ext-plain to tag ext-tag1 (priority 10)");
    // Automatic priority: (10 + 7) // 5 * 5 = 15.
    let out = farm
        .koji(&[
            "add-external-repo",
            "-t",
            "ext-tag1",
            "ext-second",
            "http://example.com/e2e/second/",
        ])
        .ok();
    let second = repo_id(farm, "ext-second");
    out.stdout_is(&format!(
        "Created external repo {second}\nAdded external repo ext-second to tag ext-tag1 (priority 15)"
    ));
    farm.koji(&[
        "add-external-repo",
        "-t",
        "ext-tag1",
        "-p",
        "30",
        "-m",
        "bare",
        "ext-third",
        "http://example.com/e2e/third",
    ])
    .ok()
    .stdout_has("Added external repo ext-third to tag ext-tag1 (priority 30)");

    let by_tag = farm
        .koji(&["list-external-repos", "--quiet", "--tag", "ext-tag1"])
        .ok();
    assert_eq!(
        trimmed(&by_tag),
        [
            tag_row(10, "ext-plain", "koji", "http://example.com/e2e/repo/"),
            tag_row(15, "ext-second", "koji", "http://example.com/e2e/second/"),
            tag_row(30, "ext-third", "bare", "http://example.com/e2e/third/"),
        ],
        "{by_tag}"
    );
    let used = farm
        .koji(&["list-external-repos", "--used", "--name", "ext-plain"])
        .ok();
    assert_eq!(
        trimmed(&used),
        [
            format!(
                "{:<20} {:<3} {:<10} External repo name",
                "Tag", "Pri", "Mode"
            ),
            format!(
                "{} {} {} {}",
                "-".repeat(20),
                "-".repeat(3),
                "-".repeat(10),
                "-".repeat(25)
            ),
            format!("{:<20} {:<3} {:<10} ext-plain", "ext-tag1", 10, "koji"),
        ],
        "{used}"
    );

    // A name without a url only works together with --tag.
    farm.koji(&["add-external-repo", "ext-plain"])
        .fails_with(2)
        .stderr_has("A url is required to create an external repo entry");
}

fn remove_external_repo(farm: &Farm) {
    farm.koji(&["add-tag", "rm-tag"]).ok();
    farm.koji(&[
        "add-external-repo",
        "-t",
        "rm-tag",
        "rm-repo",
        "file:///e2e/rm/",
    ])
    .ok();
    farm.koji(&["remove-external-repo", "rm-repo", "rm-tag"])
        .ok()
        .stdout_empty();
    farm.koji(&["list-external-repos", "--quiet", "--tag", "rm-tag"])
        .ok()
        .stdout_empty();
    // The repo itself is still there.
    farm.koji(&["list-external-repos", "--quiet", "--name", "rm-repo"])
        .ok()
        .stdout_is(&format!("{:<25} file:///e2e/rm/", "rm-repo"));
    farm.koji(&["remove-external-repo", "rm-repo", "rm-tag"])
        .ok()
        .stdout_is("External repo rm-repo not associated with tag rm-tag");

    // Deleting a repo that a tag uses needs --force.
    farm.koji(&[
        "add-external-repo",
        "-t",
        "rm-tag",
        "rm-repo2",
        "file:///e2e/rm2/",
    ])
    .ok();
    farm.koji(&["remove-external-repo", "rm-repo2"])
        .fails_with(1)
        .stderr_has("Error: external repo rm-repo2 used by tag(s): rm-tag")
        .stderr_has("Use --force to remove anyway");
    farm.koji(&["list-external-repos", "--quiet", "--name", "rm-repo2"])
        .ok()
        .stdout_is(&format!("{:<25} file:///e2e/rm2/", "rm-repo2"));
    farm.koji(&["remove-external-repo", "--force", "rm-repo2"])
        .ok()
        .stdout_empty();
    farm.koji(&["list-external-repos", "--quiet", "--name", "rm-repo2"])
        .ok()
        .stdout_empty();
    farm.koji(&["list-external-repos", "--quiet", "--tag", "rm-tag"])
        .ok()
        .stdout_empty();

    // An unused repo is deleted without --force.
    farm.koji(&["remove-external-repo", "rm-repo"])
        .ok()
        .stdout_empty();
    farm.koji(&["call", "getExternalRepo", "rm-repo"])
        .ok()
        .stdout_is("None");
    let all = farm.koji(&["list-external-repos", "--quiet"]).ok();
    assert!(
        all.row("rm-repo").is_none() && all.row("rm-repo2").is_none(),
        "{all}"
    );
}
