//! `nestioc lsp`: the language server on stdin/stdout.

use std::process::ExitCode;

pub(super) fn lsp() -> ExitCode {
    match crate::lsp::run_stdio() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: language server: {e}");
            ExitCode::from(2)
        }
    }
}
