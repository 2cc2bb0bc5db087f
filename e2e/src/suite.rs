//! Test binary mains (libtest-mimic): the usual `cargo test` filters and output, plus a farm
//! that is stopped cleanly when the binary is done.
//!
//! ```text
//! kkoji_e2e::shared_farm_main!(hello_greets_admin, add_host_lists_it);   // one farm for all
//! kkoji_e2e::isolated_main!(state_survives_sigkill);                     // each test its own
//! ```

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;
use std::sync::{Arc, Once};

use libtest_mimic::{Arguments, Trial};

use crate::Farm;
use crate::farm::set_quickstart_bin;

/// A test that uses the binary's shared farm.
pub type SharedTest = (&'static str, fn(&Farm));
/// A test that makes its own farm(s).
pub type IsolatedTest = (&'static str, fn());

/// Starts one farm, runs `tests` against it (in parallel, as `cargo test` would), stops it.
pub fn run_shared(quickstart_bin: &str, tests: &[SharedTest]) -> ExitCode {
    run_shared_with(quickstart_bin, tests, false)
}

/// Like [`run_shared`], one test at a time in the listed order: for tests whose tools act on
/// the whole farm (kkoji-repo-regen requests, expires and deletes repos of every tag).
pub fn run_shared_serial(quickstart_bin: &str, tests: &[SharedTest]) -> ExitCode {
    run_shared_with(quickstart_bin, tests, true)
}

fn run_shared_with(quickstart_bin: &str, tests: &[SharedTest], serial: bool) -> ExitCode {
    set_quickstart_bin(quickstart_bin);
    install_panic_hook();
    let mut args = Arguments::from_args();
    if serial {
        args.test_threads = Some(1);
    }
    let any_selected = tests
        .iter()
        .any(|(name, _)| !args.is_filtered_out(&Trial::test(*name, || Ok(()))));
    let farm = if args.list || !any_selected {
        None
    } else {
        match catch_unwind(Farm::start) {
            Ok(f) => Some(Arc::new(f)),
            Err(e) => {
                eprintln!(
                    "kkoji-e2e: could not start the shared farm: {}",
                    panic_text(&*e)
                );
                return ExitCode::from(101);
            }
        }
    };
    let trials = tests
        .iter()
        .map(|&(name, test)| {
            let farm = farm.clone();
            Trial::test(name, move || {
                let farm = farm.ok_or("no farm")?;
                catch_unwind(AssertUnwindSafe(|| test(&farm))).map_err(|e| panic_text(&*e).into())
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(farm);
    conclusion.exit_code()
}

/// Runs `tests`, each responsible for its own farm.
pub fn run_isolated(quickstart_bin: &str, tests: &[IsolatedTest]) -> ExitCode {
    set_quickstart_bin(quickstart_bin);
    install_panic_hook();
    let args = Arguments::from_args();
    let trials = tests
        .iter()
        .map(|&(name, test)| {
            Trial::test(name, move || {
                catch_unwind(test).map_err(|e| panic_text(&*e).into())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

thread_local! {
    /// Where the last panic of this thread happened (set by the panic hook).
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the default panic output (message + backtrace, interleaved between parallel
/// tests) by recording the location; [`panic_text`] adds it to the failure report, which
/// libtest-mimic prints once per failed test.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let loc = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            PANIC_LOCATION.with(|c| *c.borrow_mut() = loc);
        }));
    });
}

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    let msg = e
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".to_string());
    match PANIC_LOCATION.with(|c| c.borrow_mut().take()) {
        Some(loc) => format!("{msg}\n(panicked at {loc})"),
        None => msg,
    }
}

/// `fn main` of a test binary whose tests (`fn(&Farm)`) share one farm.
#[macro_export]
macro_rules! shared_farm_main {
    ($($test:ident),* $(,)?) => {
        fn main() -> ::std::process::ExitCode {
            $crate::suite::run_shared(
                env!("CARGO_BIN_EXE_e2e-kkoji-quickstart"),
                &[$((stringify!($test), $test as fn(&$crate::Farm))),*],
            )
        }
    };
}

/// Like [`shared_farm_main`], running the tests one at a time in the listed order.
#[macro_export]
macro_rules! serial_farm_main {
    ($($test:ident),* $(,)?) => {
        fn main() -> ::std::process::ExitCode {
            $crate::suite::run_shared_serial(
                env!("CARGO_BIN_EXE_e2e-kkoji-quickstart"),
                &[$((stringify!($test), $test as fn(&$crate::Farm))),*],
            )
        }
    };
}

/// `fn main` of a test binary whose tests (`fn()`) each start their own farm.
#[macro_export]
macro_rules! isolated_main {
    ($($test:ident),* $(,)?) => {
        fn main() -> ::std::process::ExitCode {
            $crate::suite::run_isolated(
                env!("CARGO_BIN_EXE_e2e-kkoji-quickstart"),
                &[$((stringify!($test), $test as fn())),*],
            )
        }
    };
}
