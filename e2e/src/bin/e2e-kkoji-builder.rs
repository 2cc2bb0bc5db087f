fn main() -> std::process::ExitCode {
    kkoji_builder::cli_main()
}
