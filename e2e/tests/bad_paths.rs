//! Bad paths: permission refusals, duplicates, unknown names, bad `koji call` arguments, bad
//! credentials and hostile request bodies. Every case checks the error a user reads AND that
//! nothing changed. All tests share one farm; each uses its own names.

use kkoji_e2e::raw::RawRequest;
use kkoji_e2e::xmlrpc;
use kkoji_e2e::{Farm, RawResponse};

kkoji_e2e::shared_farm_main!(
    non_admin_cannot_run_admin_commands,
    duplicate_host_is_refused,
    duplicate_tag_is_refused,
    duplicate_target_is_refused,
    duplicate_external_repo_and_link_are_refused,
    duplicate_user_is_refused,
    unknown_names_are_reported,
    call_with_unknown_keyword,
    call_with_wrong_arity,
    call_with_wrong_type,
    call_unknown_method,
    unknown_method_and_stale_session_raw,
    login_without_client_cert_is_refused,
    login_with_foreign_ca_cert_is_refused,
    login_with_expired_cert_is_refused,
    malformed_xml_gets_a_fault,
    oversized_body_gets_a_fault,
    deep_nesting_gets_a_fault,
    entity_payloads_get_a_fault,
    get_is_not_allowed,
);

/// After a hostile request: the hub still answers, anonymously and through the CLI.
#[track_caller]
fn hub_still_answers(farm: &Farm) {
    let r = farm.raw_call("hello", &[]);
    assert_eq!(r.status, 200, "{r}");
    r.expect_version_header();
    assert_eq!(r.scalar().as_deref(), Some("Hello World"), "{r}");
    farm.koji(&["hello"]).ok().stdout_has(", kojiadmin!");
}

fn non_admin_cannot_run_admin_commands(farm: &Farm) {
    let u = "mallory";
    farm.koji_as(u, &["hello"]).ok().stdout_has(", mallory!");
    farm.koji(&["add-host", "bp-host", "x86_64"]).ok();
    farm.koji(&["add-tag", "bp-build", "--arches", "x86_64"])
        .ok();
    let denied =
        |perm: &str| format!("ActionNotAllowed: {perm} permission required (logged in as {u})");

    farm.koji_as(u, &["add-host", "evil-host", "x86_64"])
        .fails_with(1)
        .stderr_has(&denied("host"));
    farm.koji_as(u, &["edit-host", "bp-host", "--capacity", "9"])
        .fails_with(1)
        .stderr_has(&denied("host"));
    farm.koji_as(u, &["disable-host", "bp-host"])
        .fails_with(1)
        .stderr_has(&denied("host"));
    // add-tag/add-target: the CLI checks hasPerm itself and never calls the hub…
    farm.koji_as(u, &["add-tag", "evil-tag"])
        .fails_with(2)
        .stderr_has("This action requires tag or admin privileges");
    farm.koji_as(u, &["add-target", "evil-target", "bp-build"])
        .fails_with(2)
        .stderr_has("This action requires target or admin privileges");
    // …so call the hub methods directly, as a script would.
    farm.koji_as(u, &["call", "createTag", "evil-tag"])
        .fails_with(1)
        .stderr_has(&denied("tag"));
    farm.koji_as(
        u,
        &[
            "call",
            "createBuildTarget",
            "evil-target",
            "bp-build",
            "bp-build",
        ],
    )
    .fails_with(1)
    .stderr_has(&denied("target"));
    farm.koji_as(u, &["add-user", "evil-user"])
        .fails_with(1)
        .stderr_has(&denied("admin"));
    farm.koji_as(u, &["grant-permission", "admin", u])
        .fails_with(1)
        .stderr_has(&denied("admin"));
    farm.koji_as(u, &["add-external-repo", "evil-repo", "file:///evil/"])
        .fails_with(1)
        .stderr_has(&denied("admin"));

    // Nothing changed.
    farm.koji(&["hostinfo", "evil-host"])
        .fails_with(1)
        .stderr_has("No such host: evil-host");
    let hosts = farm.koji(&["list-hosts", "--quiet"]).ok();
    assert!(hosts.row("evil-host").is_none(), "{hosts}");
    assert_eq!(
        hosts.expect_row("bp-host"),
        ["bp-host", "Y", "N", "0.0/2.0", "x86_64", "-"],
        "bp-host must be unchanged (enabled, capacity 2.0):\n{hosts}"
    );
    farm.koji(&["list-tags", "evil-*"]).ok().stdout_empty();
    farm.koji(&["call", "getUser", "evil-user"])
        .ok()
        .stdout_is("None");
    farm.koji(&["list-permissions", "--quiet", "--user", u])
        .ok()
        .stdout_empty();
    farm.koji(&["list-external-repos", "--quiet", "--name", "evil-repo"])
        .ok()
        .stdout_empty();
    farm.koji(&["list-targets", "--name", "evil-target"])
        .fails_with(2)
        .stderr_has("No such build target: evil-target");
    farm.koji_as(u, &["call", "hasPerm", "admin"])
        .ok()
        .stdout_is("False");
}

fn duplicate_host_is_refused(farm: &Farm) {
    // The CLI checks first; the hub refuses too when called directly.
    farm.koji(&["add-host", "dup-host", "x86_64"]).ok();
    let before = farm.call_json(&["getHost", "dup-host"]);
    farm.koji(&["add-host", "dup-host", "aarch64"])
        .fails_with(1)
        .stderr_has("dup-host is already in the database");
    farm.koji(&[
        "call",
        "--json-input",
        "addHost",
        "\"dup-host\"",
        "[\"aarch64\"]",
    ])
    .fails_with(1)
    .stderr_has("GenericError: host already exists: dup-host");
    let after = farm.call_json(&["getHost", "dup-host"]);
    assert_eq!(before, after, "the host must be unchanged");
    assert_eq!(after["arches"], "x86_64", "{after}");
}

fn duplicate_tag_is_refused(farm: &Farm) {
    farm.koji(&["add-tag", "dup-tag", "--arches", "x86_64"])
        .ok();
    let before = farm.call_json(&["getTag", "dup-tag"]);
    farm.koji(&["add-tag", "dup-tag", "--arches", "aarch64"])
        .fails_with(1)
        .stderr_has("GenericError: A tag with the name 'dup-tag' already exists");
    assert_eq!(farm.call_json(&["getTag", "dup-tag"]), before);
    farm.koji(&["list-tags", "dup-tag"])
        .ok()
        .stdout_is("dup-tag");
}

fn duplicate_target_is_refused(farm: &Farm) {
    farm.koji(&["add-tag", "dupt-tag", "--arches", "x86_64"])
        .ok();
    farm.koji(&["add-tag", "dupt-tag2", "--arches", "x86_64"])
        .ok();
    farm.koji(&["add-target", "dup-tgt", "dupt-tag", "dupt-tag"])
        .ok();
    farm.koji(&["add-target", "dup-tgt", "dupt-tag2", "dupt-tag2"])
        .fails_with(1)
        .stderr_has("GenericError: A build target with the name 'dup-tgt' already exists");
    let t = farm
        .koji(&["list-targets", "--quiet", "--name", "dup-tgt"])
        .ok();
    assert_eq!(t.lines().len(), 1, "{t}");
    assert_eq!(
        t.expect_row("dup-tgt"),
        ["dup-tgt", "dupt-tag", "dupt-tag"],
        "{t}"
    );
}

fn duplicate_external_repo_and_link_are_refused(farm: &Farm) {
    farm.koji(&["add-tag", "dupr-tag"]).ok();
    farm.koji(&["add-external-repo", "dup-repo", "file:///e2e/dup1/"])
        .ok();
    farm.koji(&["add-external-repo", "dup-repo", "file:///e2e/dup2/"])
        .fails_with(1)
        .stderr_has("GenericError: An external repo named \"dup-repo\" already exists");
    farm.koji(&["list-external-repos", "--quiet", "--name", "dup-repo"])
        .ok()
        .stdout_is(&format!("{:<25} file:///e2e/dup1/", "dup-repo"));
    farm.koji(&["add-external-repo", "-t", "dupr-tag::5", "dup-repo"])
        .ok()
        .stdout_is("Added external repo dup-repo to tag dupr-tag (priority 5)");
    farm.koji(&["add-external-repo", "-t", "dupr-tag::6", "dup-repo"])
        .fails_with(1)
        .stderr_has("GenericError: tag dupr-tag already associated with external repo dup-repo");
    let links = farm
        .koji(&["list-external-repos", "--quiet", "--tag", "dupr-tag"])
        .ok();
    assert_eq!(links.lines().len(), 1, "{links}");
    assert_eq!(
        links.expect_row("5"),
        ["5", "dup-repo", "koji", "file:///e2e/dup1/"],
        "{links}"
    );
}

fn duplicate_user_is_refused(farm: &Farm) {
    farm.koji(&["add-user", "dup-user"]).ok();
    let before = farm.call_json(&["getUser", "dup-user"]);
    farm.koji(&["add-user", "dup-user"])
        .fails_with(1)
        .stderr_has("GenericError: user already exists: dup-user");
    assert_eq!(farm.call_json(&["getUser", "dup-user"]), before);
}

fn unknown_names_are_reported(farm: &Farm) {
    farm.koji(&["hostinfo", "e2e-nosuchhost"])
        .fails_with(1)
        .stdout_empty()
        .stderr_has("No such host: e2e-nosuchhost");
    farm.koji(&["call", "getHost", "e2e-nosuchhost"])
        .ok()
        .stdout_is("None");
    farm.koji(&["edit-host", "e2e-nosuchhost", "--capacity", "3"])
        .fails_with(1)
        .stderr_has("No such host: e2e-nosuchhost")
        .stderr_has("No changes made, please correct the command line");
    farm.koji(&["list-tag-inheritance", "e2e-nosuchtag"])
        .fails_with(2)
        .stderr_has("No such tag: e2e-nosuchtag");
    farm.koji(&["list-pkgs", "--tag", "e2e-nosuchtag"])
        .fails_with(2)
        .stderr_has("No such tag: e2e-nosuchtag");

    farm.koji(&["add-tag", "unk-dest"]).ok();
    farm.koji(&["add-target", "unk-target", "e2e-nosuchbuild", "unk-dest"])
        .fails_with(1)
        .stderr_has("No such tag: e2e-nosuchbuild");
    farm.koji(&[
        "call",
        "createBuildTarget",
        "unk-target",
        "e2e-nosuchbuild",
        "unk-dest",
    ])
    .fails_with(1)
    .stderr_has("GenericError: build tag 'e2e-nosuchbuild' does not exist");
    farm.koji(&["list-targets", "--name", "unk-target"])
        .fails_with(2)
        .stderr_has("No such build target: unk-target");

    farm.koji(&["add-tag", "unk-orphan", "--parent", "e2e-nosuchparent"])
        .fails_with(1)
        .stderr_has("GenericError: Parent tag 'e2e-nosuchparent' could not be found");
    farm.koji(&["call", "getTag", "unk-orphan"])
        .ok()
        .stdout_is("None");
    farm.koji(&["add-host-to-channel", "e2e-nosuchhost", "default"])
        .fails_with(1)
        .stderr_has("No such host: e2e-nosuchhost");
}

fn call_with_unknown_keyword(farm: &Farm) {
    farm.koji(&["add-tag", "bad-call-tag"]).ok();
    let before = farm.call_json(&["getTag", "bad-call-tag"]);
    // ParameterError (1019) with CPython's wording, which the CLI greps for.
    farm.koji(&["call", "getTag", "bad-call-tag", "bogus=1"])
        .fails_with(1)
        .stderr_has("ParameterError")
        .stderr_has("got an unexpected keyword argument 'bogus'");
    farm.koji(&["call", "createTag", "bad-call-tag2", "bogus=1"])
        .fails_with(1)
        .stderr_has("ParameterError")
        .stderr_has("got an unexpected keyword argument 'bogus'");
    assert_eq!(farm.call_json(&["getTag", "bad-call-tag"]), before);
    farm.koji(&["call", "getTag", "bad-call-tag2"])
        .ok()
        .stdout_is("None");
}

fn call_with_wrong_arity(farm: &Farm) {
    // Missing and surplus positional arguments: ParameterError, as CPython's TypeError.
    farm.koji(&["call", "getTag"])
        .fails_with(1)
        .stderr_has("ParameterError");
    farm.koji(&["call", "getAPIVersion", "1"])
        .fails_with(1)
        .stderr_has("ParameterError");
    farm.koji(&["call", "createTag"])
        .fails_with(1)
        .stderr_has("ParameterError");
}

fn call_with_wrong_type(farm: &Farm) {
    // editHost: a description must be a string (stock: convert_value -> ParameterError).
    farm.koji(&["add-host", "bad-call-host", "x86_64"]).ok();
    farm.koji(&["edit-host", "bad-call-host", "--description", "keep me"])
        .ok();
    farm.koji(&["call", "editHost", "bad-call-host", "description=123"])
        .fails_with(1)
        .stderr_has("ParameterError");
    let host = farm.call_json(&["getHost", "bad-call-host"]);
    assert_eq!(host["description"], "keep me", "{host}");
}

fn call_unknown_method(farm: &Farm) {
    farm.koji(&["call", "e2eNoSuchMethod"])
        .fails_with(1)
        .stderr_has("GenericError: Invalid method: e2eNoSuchMethod");
    farm.koji(&["call", "e2eNoSuchMethod", "x", "y=1"])
        .fails_with(1)
        .stderr_has("GenericError: Invalid method: e2eNoSuchMethod");
}

fn unknown_method_and_stale_session_raw(farm: &Farm) {
    let f = farm.raw_call("e2eNoSuchMethod", &[]).expect_fault();
    assert_eq!(f.code, 1000, "{f:?}");
    assert!(
        f.string.contains("Invalid method: e2eNoSuchMethod"),
        "{f:?}"
    );
    // Made-up session headers: the method is looked up first…
    let body = xmlrpc::method_call("e2eNoSuchMethod", &[]);
    let stale = |req: RawRequest<'_>| {
        farm.raw(
            &req.with_header("Koji-Session-Id: 987654")
                .with_header("Koji-Session-Key: 1-notarealkeyatall000")
                .with_header("Koji-Session-Callnum: 0"),
        )
    };
    let f = stale(RawRequest::post("/kojihub", body.as_bytes())).expect_fault();
    assert_eq!(f.code, 1000, "{f:?}");
    assert!(f.string.contains("Invalid method"), "{f:?}");
    // …and a known method fails hard on the bad session, even an anonymous-capable one.
    let body = xmlrpc::method_call("getAPIVersion", &[]);
    let f = stale(RawRequest::post("/kojihub", body.as_bytes())).expect_fault();
    assert_eq!(f.code, 1002, "AuthError expected: {f:?}");
    // Anonymous calls without session headers work.
    let r = farm.raw_call("getAPIVersion", &[]);
    assert_eq!(r.status, 200, "{r}");
    r.expect_version_header();
    assert_eq!(r.scalar().as_deref(), Some("1"), "{r}");
}

/// sslLogin refused: an AuthError fault (and no session), or a refused TLS handshake.
#[track_caller]
fn assert_login_refused(r: &RawResponse) {
    if r.answered() {
        let f = r.expect_fault();
        assert_eq!(f.code, 1002, "AuthError expected:\n{r}");
        assert!(
            !r.body.contains("session-id"),
            "no session may be issued:\n{r}"
        );
    } else {
        assert_ne!(r.curl_exit, Some(0), "{r}");
    }
}

fn login_without_client_cert_is_refused(farm: &Farm) {
    let body = xmlrpc::ssl_login_body();
    let r = farm.raw_post("/kojihub/ssllogin", body.as_bytes());
    assert!(r.answered(), "anonymous TLS must be accepted:\n{r}");
    let f = r.expect_fault();
    assert_eq!(f.code, 1002, "AuthError expected:\n{r}");
    assert!(!r.body.contains("session-id"), "{r}");
    // Also on the main endpoint.
    let r = farm.raw_post("/kojihub", body.as_bytes());
    assert_eq!(r.expect_fault().code, 1002, "{r}");
    // With the admin's certificate the same request logs in.
    let cert = farm.admin_cert();
    let r = farm.raw(&RawRequest::post("/kojihub/ssllogin", body.as_bytes()).with_cert(&cert));
    assert_eq!(r.status, 200, "{r}");
    r.expect_version_header();
    assert!(r.fault().is_none(), "{r}");
    for member in ["session-id", "session-key", "header-auth"] {
        assert!(r.body.contains(member), "{member} missing:\n{r}");
    }
}

fn login_with_foreign_ca_cert_is_refused(farm: &Farm) {
    // A certificate claiming to be the admin, signed by a CA the farm does not trust.
    let cert = farm.foreign_cert("kojiadmin");
    let body = xmlrpc::ssl_login_body();
    let r = farm.raw(&RawRequest::post("/kojihub/ssllogin", body.as_bytes()).with_cert(&cert));
    assert_login_refused(&r);
    if r.answered() {
        let conf = farm.conf_path("foreign-admin.conf");
        farm.write_conf_with_cert(&conf, &cert);
        farm.koji_with_conf(&conf, &["hello"])
            .fails_with(1)
            .stderr_has("AuthError")
            .stdout_lacks("kojiadmin!");
    }
    hub_still_answers(farm);
}

fn login_with_expired_cert_is_refused(farm: &Farm) {
    // Signed by the farm CA, for the admin, but expired yesterday.
    let cert = farm.expired_cert("kojiadmin");
    let body = xmlrpc::ssl_login_body();
    let r = farm.raw(&RawRequest::post("/kojihub/ssllogin", body.as_bytes()).with_cert(&cert));
    assert_login_refused(&r);
    if r.answered() {
        let conf = farm.conf_path("expired-admin.conf");
        farm.write_conf_with_cert(&conf, &cert);
        farm.koji_with_conf(&conf, &["hello"])
            .fails_with(1)
            .stderr_has("AuthError")
            .stdout_lacks("kojiadmin!");
    }
    hub_still_answers(farm);
}

fn malformed_xml_gets_a_fault(farm: &Farm) {
    let cases: [(&str, &str); 4] = [
        (
            "mismatched tags",
            "<?xml version='1.0'?>\n<methodCall><methodName>hello</methodName><params><param>\
             <value><string>x</value></param></params></methodCall>",
        ),
        (
            "truncated",
            "<?xml version='1.0'?>\n<methodCall>\n<methodName>hel",
        ),
        ("not XML at all", "this is not xml"),
        (
            "not a methodCall",
            "<?xml version='1.0'?>\n<methodResponse><params/></methodResponse>",
        ),
    ];
    for (label, body) in cases {
        let r = farm.raw_post("/kojihub", body.as_bytes());
        assert!(r.answered(), "{label}: no answer:\n{r}");
        assert_eq!(r.status, 200, "{label}: HTTP 200 + fault expected:\n{r}");
        r.expect_version_header();
        assert!(r.fault().is_some(), "{label}: fault expected:\n{r}");
    }
    hub_still_answers(farm);
}

fn oversized_body_gets_a_fault(farm: &Farm) {
    // Over MaxRequestLength (4 MiB): refused with a fault, like the stock hub's
    // GenericError "Request too long".
    let big = "A".repeat(4 * 1024 * 1024 + 1024);
    let body = xmlrpc::method_call("hello", &[xmlrpc::string(&big)]);
    let r = farm.raw_post("/kojihub", body.as_bytes());
    let f = r.expect_fault();
    assert_eq!(f.code, 1000, "GenericError expected: {f:?}");
    // Just under the limit is fine.
    let ok = "A".repeat(3 * 1024 * 1024);
    let body = xmlrpc::method_call("hello", &[xmlrpc::string(&ok)]);
    let r = farm.raw_post("/kojihub", body.as_bytes());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.scalar().as_deref(), Some("Hello World"), "{r}");
    hub_still_answers(farm);
}

fn nested_arrays(depth: usize) -> String {
    let mut v = xmlrpc::int(1);
    for _ in 0..depth {
        v = xmlrpc::array(&[v]);
    }
    v
}

fn deep_nesting_gets_a_fault(farm: &Farm) {
    let body = xmlrpc::method_call("hello", &[nested_arrays(100)]);
    let r = farm.raw_post("/kojihub", body.as_bytes());
    r.expect_fault();
    // Moderate nesting is fine.
    let body = xmlrpc::method_call("hello", &[nested_arrays(10)]);
    let r = farm.raw_post("/kojihub", body.as_bytes());
    assert_eq!(r.scalar().as_deref(), Some("Hello World"), "{r}");
    hub_still_answers(farm);
}

fn entity_payloads_get_a_fault(farm: &Farm) {
    let laughs = "<?xml version='1.0'?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n\
        <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n\
        <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n\
        <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n\
        <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n\
        <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n\
        <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n\
        <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n\
        <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n\
        <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n\
        ]>\n<methodCall><methodName>echo</methodName><params><param><value><string>&lol9;\
        </string></value></param></params></methodCall>\n";
    let r = farm.raw_post("/kojihub", laughs.as_bytes());
    r.expect_fault();
    assert!(
        !r.body.contains("lollollol"),
        "entities must not be expanded:\n{r}"
    );

    let xxe = "<?xml version='1.0'?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n\
        <methodCall><methodName>echo</methodName><params><param><value><string>&xxe;\
        </string></value></param></params></methodCall>\n";
    let r = farm.raw_post("/kojihub", xxe.as_bytes());
    r.expect_fault();
    assert!(
        !r.body.contains("root:"),
        "external entities must not be read:\n{r}"
    );
    hub_still_answers(farm);
}

fn get_is_not_allowed(farm: &Farm) {
    let r = farm.raw(&RawRequest {
        method: "GET",
        path: "/kojihub",
        body: None,
        cert: None,
        headers: vec![],
    });
    assert_eq!(r.status, 405, "{r}");
    assert!(r.header("allow").is_some_and(|a| a.contains("POST")), "{r}");
    r.expect_version_header();
}
