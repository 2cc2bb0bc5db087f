//! Certificates over a farm's life, against a running hub (never restarted here): a revoked
//! user is refused at its next login within seconds of `revoke` with the reason, a renewed
//! certificate logs in, and after `rotate-ca` both an old certificate and one from the new
//! CA log in. The quickstart hub is configured with the CRL from its first start.

use std::time::Duration;

use kkoji_certs::CertKind;
use kkoji_certs::lifecycle::{self, Reason};
use kkoji_e2e::Farm;
use kkoji_e2e::builds::wait_for;

kkoji_e2e::isolated_main!(revoke_renew_and_rotate_ca_on_a_running_hub);

const LONG: Duration = Duration::from_secs(60);

fn revoke_renew_and_rotate_ca_on_a_running_hub() {
    let farm = Farm::start_with(&["--no-builder"]);
    let hub_pid = farm.hub_pid();
    assert!(
        farm.conf_value("cert").is_some() && farm.ca_dir().join("crl.pem").exists(),
        "quickstart wrote no CRL in {}",
        farm.ca_dir().display()
    );
    farm.koji_as("alice", &["hello"]).ok().stdout_has("alice");
    farm.koji_as("bob", &["hello"]).ok().stdout_has("bob");

    // revoke: the next login of alice is refused, with the reason; nobody else is affected
    lifecycle::revoke(
        &farm.ca_dir(),
        "alice",
        Some(CertKind::User),
        Reason::KeyCompromise,
        30,
    )
    .expect("revoke alice");
    let refused = wait_for("alice's login to be refused", LONG, || {
        let out = farm.koji_as("alice", &["hello"]);
        if out.status != Some(0) && out.stderr.contains("revoked") {
            Ok(out)
        } else {
            Err(format!("{out}"))
        }
    });
    assert!(refused.stderr.contains("AuthError"), "{refused}");
    assert!(refused.stderr.contains("KeyCompromise"), "{refused}");
    farm.koji_as("bob", &["hello"]).ok();
    farm.koji(&["hello"]).ok();

    // renew: a new key for bob, same name; it logs in
    lifecycle::renew(&farm.ca_dir(), "bob", Some(CertKind::User), 30, false, true)
        .expect("renew bob");
    farm.koji_as("bob", &["hello"]).ok().stdout_has("bob");

    // rotate-ca: the old admin certificate and a certificate of the new CA both log in
    lifecycle::rotate_ca(&farm.ca_dir(), Some("kkoji rotated CA"), 3650).expect("rotate-ca");
    let issued_by_new = wait_for("a certificate of the new CA to log in", LONG, || {
        let out = farm.koji_as("carol", &["hello"]);
        if out.status == Some(0) {
            Ok(out)
        } else {
            Err(format!("{out}"))
        }
    });
    issued_by_new.stdout_has("carol");
    farm.koji(&["hello"]).ok();
    assert_eq!(farm.hub_pid(), hub_pid, "the hub was restarted");
}
