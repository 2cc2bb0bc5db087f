fn main() -> std::process::ExitCode {
    kkoji_quickstart::cli_main()
}
