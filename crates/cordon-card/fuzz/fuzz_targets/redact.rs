//! Any UTF-8 text: no panic; spans in bounds, on char boundaries, ordered and disjoint; the mask
//! replaces exactly the spans; everything else is kept byte for byte; redaction is idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let owned;
    let text = match std::str::from_utf8(data) {
        Ok(t) => t,
        Err(_) => {
            owned = String::from_utf8_lossy(data).into_owned();
            &owned
        }
    };
    let findings = cordon_card::find(text);
    let mut prev_end = 0;
    for f in &findings {
        assert!(prev_end <= f.start && f.start < f.end && f.end <= text.len());
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        assert!(f.last4.len() == 4 && f.last4.bytes().all(|b| b.is_ascii_digit()));
        prev_end = f.end;
    }
    let r = cordon_card::redact(text);
    assert_eq!(r.findings, findings);
    let mut expect = String::new();
    let mut at = 0;
    for f in &findings {
        expect.push_str(&text[at..f.start]);
        expect.push_str(&cordon_card::mask(f.brand, &f.last4));
        at = f.end;
    }
    expect.push_str(&text[at..]);
    assert_eq!(r.text, expect);
    assert_eq!(
        findings.is_empty(),
        matches!(r.text, std::borrow::Cow::Borrowed(_))
    );
    let again = cordon_card::redact(&r.text);
    assert_eq!(again.text, r.text, "redaction is not idempotent");

    let parts: Vec<&str> = text.split('\n').take(cordon_card::MAX_FRAGMENTS).collect();
    let _ = cordon_card::is_fragment(text);
    let _ = cordon_card::could_begin_card(text);
    let out = cordon_card::redact_fragments(&parts);
    assert_eq!(out.len(), parts.len());
    let _ = cordon_card::may_still_become_card(&parts);
    // The hold-back accounts for every piece: the oldest are released, the rest kept; with the
    // first line taken as delivered already too. What it counts as shown is at most six digits.
    let d = cordon_card::hold_decision(&[], &parts);
    assert_eq!(d.release.len() + d.keep, parts.len());
    if let Some((first, rest)) = parts.split_first() {
        let d = cordon_card::hold_decision(&[first], rest);
        assert_eq!(d.release.len() + d.keep, rest.len());
        assert!(d.shown <= d.release.len() + 1);
        let out = cordon_card::release_held(&[first], rest);
        assert_eq!(out.len(), rest.len());
    }
});
