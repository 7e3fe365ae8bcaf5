//! Signed-note, verifier-key and checkpoint parsing must never panic, and a
//! checkpoint body that parses must print back to exactly the same bytes
//! (the parser accepts only the canonical form).
#![no_main]

use cordon_ledger::checkpoint::Checkpoint;
use cordon_ledger::note::{Note, NoteSigner, NoteVerifier};
use libfuzzer_sys::fuzz_target;

fn verifier() -> NoteVerifier {
    match NoteSigner::from_seed("cordon.example/audit", &[7u8; 32]) {
        Ok(s) => s.verifier(),
        Err(_) => unreachable!("valid fixed name"),
    }
}

fuzz_target!(|data: &[u8]| {
    let v = verifier();
    if let Ok(note) = Note::parse(data) {
        let _ = note.verify(&v);
        if let Ok(cp) = Checkpoint::parse_body(note.text()) {
            assert_eq!(cp.body(), note.text(), "checkpoint body is not canonical");
        }
    }
    let _ = Checkpoint::open(data, "cordon.example/audit", &v);
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse_body(s) {
            assert_eq!(cp.body(), s, "checkpoint body is not canonical");
        }
        if let Ok(k) = NoteVerifier::parse(s) {
            assert_eq!(k.to_string(), s, "verifier key does not round-trip");
        }
        let _ = NoteSigner::from_signer_key(s);
    }
});
