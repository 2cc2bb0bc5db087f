/// A history or listing answer builds and frees hundreds of thousands of small strings and a
/// few megabyte-sized buffers per call; glibc's allocator hands the big ones back to the kernel
/// and faults them in again on every call, which cost a quarter of the hub's time on a
/// 1,000-row `queryHistory`. mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kkoji_hub::cli_main()
}
