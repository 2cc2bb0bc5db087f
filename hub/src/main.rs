fn main() -> std::process::ExitCode {
    kkoji_hub::cli_main()
}
