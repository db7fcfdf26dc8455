//! `nestioc lsp`: the language server on stdin/stdout.

use std::process::ExitCode;

pub(super) fn lsp() -> ExitCode {
    match crate::lsp::run_stdio() {
        Ok(true) => ExitCode::SUCCESS,
        // The protocol: exit without a shutdown request first exits with 1.
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            errln!("error: language server: {e}");
            ExitCode::from(2)
        }
    }
}
