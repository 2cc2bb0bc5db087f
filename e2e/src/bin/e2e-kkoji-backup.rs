//! `kkoji-backup`, built inside this package so the backup e2e test (and the runbooks it
//! runs) can call it through `env!("CARGO_BIN_EXE_e2e-kkoji-backup")`.

fn main() -> std::process::ExitCode {
    kkoji_backup::cli_main()
}
