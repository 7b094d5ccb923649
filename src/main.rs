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
/// glibc's allocator a 20,000-customer ingest took 20% more CPU (docs/benchmarks.md). Built
/// without transparent huge pages (`no_thp`): the kernel zeroing 2 MiB at the first touch of
/// each was a third of a night's ingest CPU and 41% of a scoring run's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = cli::Cli::parse();
    let _log_guard = global::init_logging(&cli.global, cli.command.logs_to_file());
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // `rapport export identities | head`: the reader has what it wanted.
            // (A CSV writer's error wraps the I/O error without exposing it as a source.)
            let broken_pipe = err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
                    || c.downcast_ref::<csv::Error>().is_some_and(|e| {
                        matches!(e.kind(), csv::ErrorKind::Io(io)
                            if io.kind() == std::io::ErrorKind::BrokenPipe)
                    })
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

/// `rapport lists complainers | head`: once the reader has stopped, `println!` panics with
/// "failed printing to stdout: Broken pipe"; the reader has what it wanted, so the command
/// ends quietly with success instead of printing a panic. Every other panic goes to the
/// default hook.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
