//! Signed notes and checkpoints: the known-answer vectors of
//! golang.org/x/mod/sumdb/note (`note_test.go`) and of the C2SP signed-note
//! specification, round trips, and rejection of tampered notes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use cordon_ledger::checkpoint::{Checkpoint, CheckpointError};
use cordon_ledger::note::{Note, NoteError, NoteSigner, NoteVerifier, MAX_SIGNATURES};
use cordon_ledger::{key_id, MemoryTree};

// golang.org/x/mod/sumdb/note, note_test.go.
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

// c2sp.org/signed-note, "Example".
const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

fn peter() -> NoteSigner {
    NoteSigner::from_signer_key(PETER_SKEY).unwrap()
}

#[test]
fn go_signer_key_derives_the_published_verifier_key() {
    let s = peter();
    assert_eq!(s.name(), "PeterNeumann");
    assert_eq!(s.key_id(), 0xc74f20a3);
    assert_eq!(s.verifier().to_string(), PETER_VKEY);
    assert_eq!(key_id("PeterNeumann", 1, &s.public_key()), 0xc74f20a3);
    // The same key from its raw 32-byte seed.
    let raw = B64
        .decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
        .unwrap();
    let seed: [u8; 32] = raw[1..].try_into().unwrap();
    assert_eq!(
        NoteSigner::from_seed("PeterNeumann", &seed)
            .unwrap()
            .verifier()
            .to_string(),
        PETER_VKEY
    );
}

#[test]
fn signing_reproduces_the_go_note_byte_for_byte() {
    let want = format!("{TEXT}\n{PETER_SIG}");
    assert_eq!(peter().sign(TEXT).unwrap(), want);
    assert_eq!(peter().signature_line(TEXT).unwrap(), PETER_SIG);
}

#[test]
fn signer_debug_hides_the_key() {
    let s = peter();
    let dbg = format!("{s:?}");
    assert_eq!(
        dbg,
        "NoteSigner { name: \"PeterNeumann\", key_id: c74f20a3, .. }"
    );
    let seed = &B64
        .decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
        .unwrap()[1..];
    for window in seed.windows(4) {
        assert!(!dbg.contains(&format!("{:?}", window)[1..10]));
    }
    assert!(!dbg.contains("AYEKFALV"));
}

#[test]
fn go_open_vectors() {
    let peter_v = NoteVerifier::parse(PETER_VKEY).unwrap();
    let enoch_v = NoteVerifier::parse(ENOCH_VKEY).unwrap();
    assert_eq!(enoch_v.key_id(), 0xaf0cfe78);
    let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    // One known signature among unknown ones is enough; unknown ones are ignored.
    let n = peter_v.open(both.as_bytes()).unwrap();
    assert_eq!(n.text(), TEXT);
    assert_eq!(n.signatures().len(), 2);
    assert_eq!(n.signatures()[1].name, "EnochRoot");
    assert_eq!(n.signatures()[1].key_id, 0xaf0cfe78);
    enoch_v.open(both.as_bytes()).unwrap();

    // No signature by the trusted key.
    let only_enoch = format!("{TEXT}\n{ENOCH_SIG}");
    assert_eq!(
        peter_v.open(only_enoch.as_bytes()),
        Err(NoteError::NotSignedByKey {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );

    // Too many signatures.
    let many = format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES + 1));
    assert_eq!(
        peter_v.open(many.as_bytes()),
        Err(NoteError::TooManySignatures { max: 100 })
    );
    let enough = format!("{TEXT}\n{}", PETER_SIG.repeat(16));
    peter_v.open(enough.as_bytes()).unwrap();

    // A corrupted signature by the trusted key rejects the note, even next to a good one.
    let corrupt = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    let bad = format!("{TEXT}\n{corrupt}");
    assert_eq!(
        peter_v.open(bad.as_bytes()),
        Err(NoteError::BadSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );
    let bad2 = format!("{TEXT}\n{PETER_SIG}{corrupt}");
    assert!(matches!(
        peter_v.open(bad2.as_bytes()),
        Err(NoteError::BadSignature { .. })
    ));

    // Malformed notes (Go's badMsgs).
    let bad_msgs = [
        TEXT.to_string(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{TEXT}\n{PETER_SIG}"),
        format!("{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
    ];
    for msg in &bad_msgs {
        assert!(peter_v.open(msg.as_bytes()).is_err(), "accepted {msg:?}");
    }
    let mut invalid_utf8 = b"\xff".to_vec();
    invalid_utf8.extend_from_slice(format!("{TEXT}\n{PETER_SIG}").as_bytes());
    assert_eq!(Note::parse(&invalid_utf8), Err(NoteError::InvalidEncoding));

    // A signature line naming another key but carrying Peter's signature is ignored.
    let misnamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego");
    assert!(matches!(
        peter_v.open(format!("{TEXT}\n{misnamed}").as_bytes()),
        Err(NoteError::NotSignedByKey { .. })
    ));
}

#[test]
fn c2sp_spec_example_verifies() {
    let v = NoteVerifier::parse(SPEC_VKEY).unwrap();
    assert_eq!(v.name(), "example.com/foo");
    assert_eq!(v.key_id(), 0x530d903a);
    assert_eq!(
        hex::encode(v.public_key()),
        "e932791ae6e7a840a46164c904786426d5e7821dd8b29a00d61cae72afdd4da4"
    );
    assert_eq!(v.to_string(), SPEC_VKEY);
    let note = v.open(SPEC_NOTE.as_bytes()).unwrap();
    assert_eq!(note.text(), "This is an example message.\n");
    let tampered = SPEC_NOTE.replace("example message", "example massage");
    assert!(matches!(
        v.open(tampered.as_bytes()),
        Err(NoteError::BadSignature { .. })
    ));
}

/// Go's TestNewVerifier: every substring and every single-byte change of the
/// verifier key string is rejected.
#[test]
fn mangled_verifier_keys_are_rejected() {
    let b = PETER_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i == 0 && j == b.len() {
                continue;
            }
            let s = std::str::from_utf8(&b[i..j]).unwrap();
            assert!(NoteVerifier::parse(s).is_err(), "accepted {s:?}");
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] = m[i].wrapping_add(1);
        if let Ok(s) = std::str::from_utf8(&m) {
            assert!(NoteVerifier::parse(s).is_err(), "accepted {s:?}");
        }
    }
    // Wrong key length and unknown algorithm, each with a matching key id.
    assert!(NoteVerifier::parse(
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    )
    .is_err());
    assert_eq!(
        NoteVerifier::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(NoteError::UnsupportedAlgorithm(0x65))
    );
}

#[test]
fn mangled_signer_keys_are_rejected() {
    let b = PETER_SKEY.as_bytes();
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] = m[i].wrapping_add(1);
        if let Ok(s) = std::str::from_utf8(&m) {
            assert!(
                NoteSigner::from_signer_key(s).is_err(),
                "accepted a mangled key at {i}"
            );
        }
    }
    assert!(NoteSigner::from_signer_key(&PETER_SKEY[..PETER_SKEY.len() - 4]).is_err());
}

#[test]
fn invalid_names_and_texts() {
    let seed = [7u8; 32];
    for name in ["", "a b", "a+b", "a\tb", "a\u{a0}b"] {
        assert_eq!(
            NoteSigner::from_seed(name, &seed).unwrap_err(),
            NoteError::InvalidKeyName
        );
    }
    let s = NoteSigner::from_seed("cordon.example/audit", &seed).unwrap();
    for text in ["", "no newline", "bell\x07\n"] {
        assert_eq!(s.sign(text), Err(NoteError::InvalidText));
    }
}

const ORIGIN: &str = "cordon.example/audit/tenant/7f3a";

#[test]
fn checkpoint_round_trip() {
    let tree = MemoryTree::from_entries((0..1000u32).map(|i| i.to_be_bytes()));
    let signer = NoteSigner::from_seed(ORIGIN, &[42u8; 32]).unwrap();
    let vkey = signer.verifier().to_string();
    let verifier: NoteVerifier = vkey.parse().unwrap();

    let cp = Checkpoint::new(ORIGIN, tree.size(), tree.root()).unwrap();
    let signed = cp.sign(&signer).unwrap();
    let root64 = B64.encode(tree.root());
    assert!(signed.starts_with(&format!("{ORIGIN}\n1000\n{root64}\n\n\u{2014} {ORIGIN} ")));
    assert!(signed.ends_with('\n'));
    assert_eq!(signed.lines().count(), 5);

    let opened = Checkpoint::open(signed.as_bytes(), ORIGIN, &verifier).unwrap();
    assert_eq!(opened, cp);
    assert_eq!(opened.size(), 1000);
    assert_eq!(opened.root(), &tree.root());

    // Wrong origin expected by the caller.
    assert_eq!(
        Checkpoint::open(
            signed.as_bytes(),
            "cordon.example/audit/platform",
            &verifier
        ),
        Err(CheckpointError::OriginMismatch {
            expected: "cordon.example/audit/platform".into()
        })
    );
    // A different key.
    let other = NoteSigner::from_seed(ORIGIN, &[43u8; 32])
        .unwrap()
        .verifier();
    assert!(matches!(
        Checkpoint::open(signed.as_bytes(), ORIGIN, &other),
        Err(CheckpointError::Note(NoteError::NotSignedByKey { .. }))
    ));
}

#[test]
fn tampered_checkpoints_are_rejected() {
    let signer = NoteSigner::from_seed(ORIGIN, &[42u8; 32]).unwrap();
    let v = signer.verifier();
    let tree = MemoryTree::from_entries((0..10u32).map(|i| i.to_be_bytes()));
    let signed = Checkpoint::new(ORIGIN, 10, tree.root())
        .unwrap()
        .sign(&signer)
        .unwrap();

    let forged_size = signed.replacen("\n10\n", "\n11\n", 1);
    let other_root = B64.encode(tree.root_at(9).unwrap());
    let forged_root = signed.replacen(&B64.encode(tree.root()), &other_root, 1);
    let flip = |at: usize| {
        let mut b = signed.clone().into_bytes();
        b[at] = if b[at] == b'A' { b'B' } else { b'A' };
        b
    };
    // Base64 characters 0..5 carry the key id; from 6 on, the signature.
    let b64_start = signed.rfind(' ').unwrap() + 1;
    let flipped = flip(b64_start + 20);
    let extra_line = signed.replacen("\n\n", "\nextension\n\n", 1);
    for (what, note) in [
        ("size", forged_size.into_bytes()),
        ("root", forged_root.into_bytes()),
        ("signature", flipped),
        ("extension", extra_line.into_bytes()),
    ] {
        let r = Checkpoint::open(&note, ORIGIN, &v);
        assert!(
            matches!(
                r,
                Err(CheckpointError::Note(NoteError::BadSignature { .. }))
            ),
            "{what}: {r:?}"
        );
    }
    // A changed key id makes the line someone else's: then no signature is ours.
    assert!(matches!(
        Checkpoint::open(&flip(b64_start + 1), ORIGIN, &v),
        Err(CheckpointError::Note(NoteError::NotSignedByKey { .. }))
    ));
    // Dropping the signature entirely.
    let unsigned = &signed[..signed.find("\n\n").unwrap() + 1];
    assert_eq!(
        Checkpoint::open(unsigned.as_bytes(), ORIGIN, &v),
        Err(CheckpointError::Note(NoteError::MissingSignatureBlock))
    );
}

#[test]
fn checkpoint_body_parsing_is_strict() {
    // c2sp.org/tlog-checkpoint example body.
    let cp = Checkpoint::parse_body(
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    )
    .unwrap();
    assert_eq!(cp.origin(), "example.com/behind-the-sofa");
    assert_eq!(cp.size(), 20852163);
    assert_eq!(
        B64.encode(cp.root()),
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    );
    assert!(cp.extensions().is_empty());

    let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    let ok = |t: &str| Checkpoint::parse_body(t);
    assert_eq!(ok(&format!("o\n0\n{root}\n")).unwrap().size(), 0);
    assert_eq!(
        ok(&format!("o\n1\n{root}\next\n")).unwrap().extensions(),
        ["ext"]
    );
    assert_eq!(
        ok(&format!("o\n18446744073709551615\n{root}\n"))
            .unwrap()
            .size(),
        u64::MAX
    );
    for (bad, want) in [
        (format!("o\n1\n{root}"), CheckpointError::Truncated),
        ("o\n1\n".to_string(), CheckpointError::Truncated),
        (format!("\n1\n{root}\n"), CheckpointError::InvalidOrigin),
        (format!("o\n01\n{root}\n"), CheckpointError::InvalidSize),
        (format!("o\n+1\n{root}\n"), CheckpointError::InvalidSize),
        (format!("o\n-1\n{root}\n"), CheckpointError::InvalidSize),
        (format!("o\n1 \n{root}\n"), CheckpointError::InvalidSize),
        (
            format!("o\n18446744073709551616\n{root}\n"),
            CheckpointError::InvalidSize,
        ),
        ("o\n1\nAAAA\n".to_string(), CheckpointError::InvalidRoot),
        (
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_string(),
            CheckpointError::InvalidRoot,
        ),
        (
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".to_string(),
            CheckpointError::InvalidRoot,
        ),
        (
            format!("o\n1\n{root}\n\n"),
            CheckpointError::InvalidExtension,
        ),
    ] {
        assert_eq!(ok(&bad), Err(want), "{bad:?}");
    }
    assert_eq!(
        Checkpoint::new("", 1, [0; 32]),
        Err(CheckpointError::InvalidOrigin)
    );
    assert_eq!(
        Checkpoint::new("a\nb", 1, [0; 32]),
        Err(CheckpointError::InvalidOrigin)
    );
}
