//! The `chittycharge` binary: a thin shell over the library.

/// mimalloc instead of glibc's malloc: under load, requests allocate on one
/// thread and free on another, and glibc's arena locks showed up in `perf`
/// as futex wake-ups on the hot read path (bench/results.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    chittycharge_server::cli::main().await
}
