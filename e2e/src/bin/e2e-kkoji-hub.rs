//! The `kkoji-hub` CLI, built inside this package so the e2e tests can start it through
//! `env!("CARGO_BIN_EXE_e2e-kkoji-hub")`.

fn main() -> std::process::ExitCode {
    kkoji_hub::cli_main()
}
