fn main() -> std::process::ExitCode {
    kkoji_backup::cli_main()
}
