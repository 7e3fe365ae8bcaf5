//! The `cordon` binary: every subcommand of the service.
#![forbid(unsafe_code)]

mod redact;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cordon", version, about = "Multi-tenant live chat that keeps card numbers out")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read text on stdin, write it to stdout with every card number masked.
    Redact(redact::RedactArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Redact(args) => redact::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cordon: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
