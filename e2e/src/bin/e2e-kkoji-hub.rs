//! The `kkoji-hub` CLI, built inside this package so that quickstart (`--hub-bin`) and the
//! tests can start it.

fn main() -> std::process::ExitCode {
    kkoji_hub::cli_main()
}
