//! `nestioc completions` and `nestioc man`: both generated from the clap definitions.

use std::process::ExitCode;

use super::Cli;

pub(super) fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    // clap_complete panics when stdout fails (`completions bash | head` closes the pipe):
    // the script is generated in memory, and a reader that stops early is not an error.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "nestioc", &mut script);
    match std::io::Write::write_all(&mut std::io::stdout().lock(), &script) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            errln!("error: cannot write the completions: {e}");
            ExitCode::from(2)
        }
    }
}

pub(super) fn man() -> ExitCode {
    let cmd = <Cli as clap::CommandFactory>::command();
    match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
