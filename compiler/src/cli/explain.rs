//! `nestioc explain`: a diagnostic code's explanation, or the list of codes.

use std::io::Write;
use std::process::ExitCode;

use crate::diag::Code;

pub(super) fn explain(code: Option<&str>) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match code {
        None => {
            for c in Code::ALL {
                let summary = crate::diag::code::summary(c.explanation());
                let _ = writeln!(stdout, "{c}  {:<24} {summary}", c.slug());
            }
            ExitCode::SUCCESS
        }
        Some(s) => match Code::parse(s) {
            Some(c) => {
                let _ = stdout.write_all(c.explanation().as_bytes());
                ExitCode::SUCCESS
            }
            None => {
                // A close code or name, else the number of codes (each has two spellings).
                let names = Code::ALL
                    .iter()
                    .map(|c| c.as_str())
                    .chain(Code::ALL.iter().map(|c| c.slug()));
                let help = match crate::suggest::did_you_mean(s, names) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("there are {} codes", Code::ALL.len()),
                };
                errln!(
                    "error: unknown diagnostic code `{s}`\nhelp: {help} (`nestioc explain` lists them all)"
                );
                ExitCode::from(2)
            }
        },
    }
}
