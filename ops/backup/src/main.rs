/// mimalloc, as the hub has: a restore allocates and frees a buffer per file, and glibc's
/// allocator hands big blocks back to the kernel only to fault them in again.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kkoji_backup::cli_main()
}
