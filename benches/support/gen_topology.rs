//! `cargo run --release --example gen-topology -- N DIR`: writes a deterministic
//! N-service project into DIR (see `benches/support/topology.rs`).
#![allow(clippy::print_stderr)]

#[path = "topology.rs"]
mod topology;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(n), Some(dir)) = (args.first().and_then(|n| n.parse().ok()), args.get(1)) else {
        eprintln!("usage: gen-topology N DIR");
        return ExitCode::from(2);
    };
    match topology::write(n, std::path::Path::new(dir)) {
        Ok(()) => {
            eprintln!("wrote {n} services to {dir}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
