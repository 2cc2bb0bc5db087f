fn main() -> std::process::ExitCode {
    kkoji_mirror_sync::cli::cli_main()
}
