//! Card numbers typed in pieces, for the split-card load (issue 7, docs/CARD-REDACTION.md "Split across
//! messages").
//!
//! The numbers are the processors' published test cards, never random ones: a random Luhn-valid number with an
//! issued prefix could be someone's real card. Each is split at group boundaries into 2 to 4 pieces, the way a
//! shopper copies a printed card (`4111 1111` then `1111 1111`), which is what the server joins and masks.

use rand::seq::SliceRandom as _;
use rand::Rng;

/// A published test card, in its printed groups.
#[derive(Debug, Clone, Copy)]
struct TestCard {
    groups: &'static [&'static str],
}

/// Four brands, so both release paths of the server are exercised: a 16-digit Visa or Discover could still grow
/// to 19 digits and waits for the visitor's next message, a Mastercard or Amex is released as soon as it is
/// complete (as is any card in 4 pieces).
const TEST_CARDS: &[TestCard] = &[
    // Visa
    TestCard {
        groups: &["4111", "1111", "1111", "1111"],
    },
    TestCard {
        groups: &["4242", "4242", "4242", "4242"],
    },
    TestCard {
        groups: &["4012", "8888", "8888", "1881"],
    },
    // Mastercard
    TestCard {
        groups: &["5555", "5555", "5555", "4444"],
    },
    TestCard {
        groups: &["5105", "1051", "0510", "5100"],
    },
    TestCard {
        groups: &["2223", "0031", "2200", "3222"],
    },
    // American Express (4-6-5)
    TestCard {
        groups: &["3782", "822463", "10005"],
    },
    TestCard {
        groups: &["3714", "496353", "98431"],
    },
    // Discover
    TestCard {
        groups: &["6011", "1111", "1111", "1117"],
    },
    TestCard {
        groups: &["6011", "0009", "9013", "9424"],
    },
];

/// Most pieces a card is typed in: the server joins at most `cordon_card::MAX_FRAGMENTS`.
pub(crate) const MAX_PIECES: usize = cordon_card::MAX_FRAGMENTS;

/// A test card split into 2 to 4 pieces (never more pieces than it has groups), each piece a run of whole groups
/// joined by spaces.
pub(crate) fn card_in_pieces(rng: &mut impl Rng) -> Vec<String> {
    // TEST_CARDS is a non-empty constant; the fallback only keeps this total.
    let card = TEST_CARDS.choose(rng).copied().unwrap_or(TestCard {
        groups: &["4111", "1111", "1111", "1111"],
    });
    let groups = card.groups;
    let most = MAX_PIECES.min(groups.len());
    let pieces = rng.gen_range(2..=most.max(2));
    // Cut after group i (1 ≤ i < len) at pieces − 1 distinct places.
    let mut cuts: Vec<usize> = (1..groups.len()).collect();
    cuts.shuffle(rng);
    cuts.truncate(pieces - 1);
    cuts.sort_unstable();
    split_at(groups, &cuts)
}

fn split_at(groups: &[&str], cuts: &[usize]) -> Vec<String> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for &c in cuts.iter().chain(std::iter::once(&groups.len())) {
        out.push(groups[from..c].join(" "));
        from = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    fn luhn_valid(digits: &str) -> bool {
        let sum: u32 = digits
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0');
                if i % 2 == 1 {
                    let x = d * 2;
                    if x > 9 {
                        x - 9
                    } else {
                        x
                    }
                } else {
                    d
                }
            })
            .sum();
        sum % 10 == 0
    }

    #[test]
    fn luhn_reference() {
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(luhn_valid("378282246310005"));
    }

    #[test]
    fn every_test_card_is_a_luhn_valid_card() {
        for c in TEST_CARDS {
            let digits: String = c.groups.concat();
            assert!(luhn_valid(&digits), "{digits}");
            let printed = c.groups.join(" ");
            assert_eq!(cordon_card::find(&printed).len(), 1, "{printed}");
        }
    }

    #[test]
    fn pieces_join_to_a_card_and_the_server_rules_mask_them() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut seen_counts = [0usize; MAX_PIECES + 1];
        for _ in 0..2_000 {
            let pieces = card_in_pieces(&mut rng);
            assert!((2..=MAX_PIECES).contains(&pieces.len()), "{pieces:?}");
            seen_counts[pieces.len()] += 1;
            // Joined, the pieces are one Luhn-valid test card.
            let digits: String = pieces.concat().chars().filter(|c| *c != ' ').collect();
            assert!(luhn_valid(&digits), "{pieces:?}");
            assert!(
                TEST_CARDS.iter().any(|c| c.groups.concat() == digits),
                "{pieces:?}"
            );
            let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
            // Each piece is a fragment the server holds: digits and spaces, opening with a 4-digit group.
            for p in &refs {
                assert!(cordon_card::is_fragment(p), "{p}");
                assert!(p.split(' ').next().is_some_and(|g| g.len() >= 4), "{p}");
            }
            assert!(cordon_card::could_begin_card(refs[0]), "{refs:?}");
            // Together they are masked as a split card, leaving only the last four digits.
            let red = cordon_card::redact_fragments(&refs);
            assert!(red.iter().all(|r| r.findings.len() == 1), "{refs:?}");
            let shown: String = red.iter().map(|r| r.text.as_ref()).collect();
            let shown_digits: String = shown.chars().filter(char::is_ascii_digit).collect();
            assert_eq!(shown_digits, digits[digits.len() - 4..], "{shown}");
        }
        // Every piece count occurs.
        assert!(seen_counts[2..].iter().all(|n| *n > 100), "{seen_counts:?}");
    }

    #[test]
    fn split_keeps_groups_whole() {
        let g = ["3782", "822463", "10005"];
        assert_eq!(split_at(&g, &[1]), vec!["3782", "822463 10005"]);
        assert_eq!(split_at(&g, &[1, 2]), vec!["3782", "822463", "10005"]);
    }
}
