fn main() -> std::process::ExitCode {
    kkoji_repo_regen::cli_main()
}
