//! `rapport`: the command line and the entry to the console.
//!
//! Thin by design: parse arguments, set up logging, dispatch to one module per command family
//! in `cmd/`, map the result to an exit code and print the error chain.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod cmd;
mod global;

/// The store and the ingest allocate and free many small buffers from two threads; with
/// glibc's allocator a 20,000-customer ingest took 20% more CPU (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let _log_guard = global::init_logging(&cli.global, cli.command.logs_to_file());
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // `rapport export identities | head`: the reader has what it wanted.
            let broken_pipe = err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            let mut msg = format!("error: {err}");
            for cause in err.chain().skip(1) {
                msg.push_str(&format!("\n  caused by: {cause}"));
            }
            eprintln!("{}", rapport_core::text::sanitize(&msg));
            ExitCode::from(2)
        }
    }
}
