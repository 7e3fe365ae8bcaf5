//! `cordon redact`: stdin to stdout, card numbers masked (placeholder; see issue 2).

use std::io::{Read, Write};

#[derive(Debug, clap::Args)]
pub(crate) struct RedactArgs {
    /// Each input line is {"text": "..."}; each output line adds "findings".
    #[arg(long)]
    pub(crate) jsonl: bool,
}

pub(crate) fn run(_args: &RedactArgs) -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let out = cordon_card::redact(&input);
    std::io::stdout().write_all(out.text.as_bytes())?;
    Ok(())
}
