//! `nestioc`: the command line. Everything happens in [`nestioc::cli`].

use std::process::ExitCode;

// The compiler allocates many small values (JSON trees, strings) on every thread; mimalloc
// takes about a third less time over a build than the system allocator
// (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The environment is read here, once, and passed in: the library never reads it.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    nestioc::cli::run(std::env::args_os(), no_color)
}
