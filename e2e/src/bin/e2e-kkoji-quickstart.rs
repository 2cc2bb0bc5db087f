//! The `kkoji-quickstart` CLI, built inside this package so the e2e tests can start farms
//! through `env!("CARGO_BIN_EXE_e2e-kkoji-quickstart")`.

fn main() -> std::process::ExitCode {
    kkoji_quickstart::cli_main()
}
