//! The `chittycharge` binary: a thin shell over the library.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    chittycharge_server::cli::main().await
}
