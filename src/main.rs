//! The `gatehouse` binary: parses the command line and hands off to [`gatehouse::cli`].

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than the system allocator: in the request path about half of the
/// instructions went to glibc's malloc and free (see docs/performance.md). Built without
/// transparent huge pages (`no_thp`): with them every thread's first arena took 2 MiB of
/// resident memory at once.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Usage errors exit with 2 (clap), failures with 1, success with 0.
    let cli = gatehouse::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(gatehouse::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
