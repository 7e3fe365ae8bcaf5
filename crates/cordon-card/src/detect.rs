//! Finding PANs: digit groups joined by separators ("chains"), candidate spans over whole groups, and
//! the rules that tell a card from the other long numbers of chat.
//!
//! A chain is a run of digit groups, each pair joined by a short run of separators (see
//! [`crate::chars::Sep`]). A candidate is a span of whole consecutive groups of a chain with 12–19
//! digits in all; it is a card when its prefix and length are issued ([`crate::pan`]), it passes
//! Luhn, and none of the rules below rules it out. Scanning tries each group of a chain as a start
//! and takes the longest card from there ("when in doubt, redact"), then carries on after it.

use crate::chars::{self, Sep};
use crate::context;
use crate::pan::{self, MAX_LEN, MIN_LEN};
use crate::skip;
use crate::Brand;

/// A separator run between two groups has at most this many characters…
const MAX_SEP_CHARS: usize = 6;
/// …of which at most this many are dashes or dots.
const MAX_SEP_MARKS: usize = 3;
/// Digits kept ahead of the current start: a card (19) and what follows it, to look past its end.
const LOOKAHEAD: usize = 40;
/// Groups the ring holds: those ahead of the current start (a card of 19 one-digit groups and what
/// follows it) and up to [`BEHIND`] before it.
const RING: usize = 64;
/// Groups kept behind the current start, for the formats a candidate may sit inside (an order
/// number, a date, a postal tracking number; see [`exempt`]).
const BEHIND: usize = 8;
/// Shortest candidate the issue-17 rule masks whatever its grouping and context ([`must`]).
const MUST_MIN_LEN: usize = 13;
/// Most digits an international phone number (E.164) has, country code included.
const E164_MAX_DIGITS: usize = 15;

/// A card found in the text: byte span, brand and last four digits (ASCII).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) brand: Brand,
    pub(crate) last4: [u8; 4],
}

/// How the separator run before a group looked (`None` for a chain's first group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Joint {
    None,
    Only(Sep),
    Mixed,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
    /// Number of digits (may exceed [`MAX_LEN`]).
    n: usize,
    /// Values of the first two digits (the second is 0 for a one-digit group).
    first2: [u8; 2],
    joint: Joint,
    /// Separator characters in the joint (0 for a chain's first group; CR LF counts as one).
    seps: u8,
    /// The joint is a single dot: `3.1415…`.
    single_dot: bool,
}

impl Group {
    /// Writes the group's digit values into `out` (which holds `n` of them or fewer).
    fn read(&self, text: &str, out: &mut [u8]) {
        let bytes = text.as_bytes();
        if self.end - self.start == self.n {
            // All ASCII.
            for (slot, b) in out.iter_mut().zip(&bytes[self.start..self.end]) {
                *slot = b - b'0';
            }
            return;
        }
        let mut at = self.start;
        for slot in out.iter_mut() {
            let Some((d, len)) = chars::digit_at(text, at) else {
                return;
            };
            *slot = d;
            at += len;
        }
    }

    const EMPTY: Group = Group {
        start: 0,
        end: 0,
        n: 0,
        first2: [0; 2],
        joint: Joint::None,
        seps: 0,
        single_dot: false,
    };

    /// The value of a group of at most four digits.
    fn value(&self, text: &str) -> u32 {
        let mut d = [0u8; 4];
        let n = self.n.min(4);
        self.read(text, &mut d[..n]);
        d[..n].iter().fold(0, |v, &x| v * 10 + u32::from(x))
    }
}

/// Call `emit` for every card in `text`, in order, without allocating.
pub(crate) fn scan(text: &str, emit: impl FnMut(Hit)) {
    scan_with(text, true, emit);
}

/// [`scan`], with or without the fast path for chains that cannot hold a card ([`short_chain`]):
/// the tests check that it changes no result.
#[inline(always)]
fn scan_with(text: &str, fast_path: bool, mut emit: impl FnMut(Hit)) {
    let bytes = text.as_bytes();
    let mut pos = 0;
    // Made on the first chain that needs it, then reused: most texts never need one.
    let mut ring: Option<Ring> = None;
    while let Some(p) = skip::next_digit_start(bytes, pos) {
        if !bytes[p].is_ascii_digit() && chars::digit_at(text, p).is_none() {
            // A lead byte of some other non-ASCII character: step over that character.
            pos = p + chars::char_at(text, p).map_or(1, |(_, len)| len);
            continue;
        }
        if let Some(end) = short_chain(text, p).filter(|_| fast_path) {
            pos = end;
            continue;
        }
        pos = chain(text, p, ring.get_or_insert_with(Ring::new), &mut emit);
    }
}

/// Handle the chain whose first digit is at `p`; returns the end of its last digit.
fn chain(text: &str, p: usize, ring: &mut Ring, emit: &mut impl FnMut(Hit)) -> usize {
    let mut parser = Parser {
        text,
        pos: p,
        done: false,
        started: false,
        last_end: p,
    };
    let head_glued = context::glued_before(text, p);
    let head_plus = matches!(chars::char_before(text, p), Some('+' | '＋'));
    // "0049 151 …", "00 49 151 …": the international dialling prefix written for '+'.
    let head_00 = text.as_bytes().get(p..p + 2) == Some(b"00");

    ring.clear();
    let mut at_head = true; // the front group is the chain's first group
    let mut fresh = true; // …or the first group after a card
    let mut run = FoursRun::default();
    let mut prev_n: Option<usize> = None;
    let mut tail_glued = None;
    // Digits passed over since the chain's head or the last card, and whether that stretch began
    // right after a '+'.
    let mut consumed = 0usize;
    let mut plus = head_plus || head_00;
    let dial_prefix = if head_00 { 2 } else { 0 };
    loop {
        ring.fill(&mut parser, LOOKAHEAD);
        if ring.len == 0 {
            break;
        }
        let glued_end = parser.done
            && *tail_glued.get_or_insert_with(|| context::glued_after(text, parser.last_end));
        let start = Start {
            at_head,
            fresh,
            head_glued,
            head_plus,
            prev_n,
            run: &run,
            phone: plus && parser.done && consumed + ring.digits <= E164_MAX_DIGITS + dial_prefix,
        };
        match best_at(text, ring, &start, parser.done, glued_end) {
            Some((mut last, mut hit)) => {
                // Overlapping candidates: a card that starts inside this one and ends after it is
                // masked with it, as one span ("1234 4111 1111 1111 1111 …").
                loop {
                    let need = ring.digits_through(last) + MAX_LEN;
                    ring.fill(&mut parser, need);
                    let glued_end = parser.done
                        && *tail_glued
                            .get_or_insert_with(|| context::glued_after(text, parser.last_end));
                    let Some((end, next)) = (1..=last)
                        .filter_map(|s| overlap(text, ring, s, last, parser.done, glued_end))
                        .max_by_key(|(end, _)| *end)
                    else {
                        break;
                    };
                    hit = Hit {
                        start: hit.start,
                        ..next
                    };
                    last = end;
                }
                emit(hit);
                for _ in 0..=last {
                    ring.pop();
                }
                // What follows a card is read as the masked text will be read: a fresh chain.
                ring.forget_behind();
                fresh = true;
                prev_n = None;
                run = FoursRun::default();
                consumed = 0;
                plus = false;
            }
            None => {
                let Some(g) = ring.pop() else { break };
                run.push(&g, fresh);
                prev_n = Some(g.n);
                consumed += g.n;
                fresh = false;
            }
        }
        at_head = false;
    }
    parser.last_end
}

/// Fast path for the common numbers of chat and logs (times, prices, ids, dates, and long numbers
/// that fail Luhn): an ASCII chain can hold a card only if some group begins with a digit (and, in
/// a group of two or more, two digits) that begin a card and is followed by at least 12 digits in
/// all, and then only if some run of whole groups has an issued prefix and length and passes Luhn
/// ([`luhn_candidate_in`]). Returns the chain's end when it cannot hold a card, or `None` when a
/// closer look is needed.
#[inline]
fn short_chain(text: &str, p: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut i, mut digits) = (p, 0usize);
    let mut end;
    // Digits before the first group that could start a card.
    let mut first_start: Option<usize> = None;
    'chain: loop {
        // A run of ASCII digits starts at `i`.
        let run = skip::ascii_digit_run(bytes, i);
        let d0 = bytes[i] - b'0';
        let d1 = if run > 1 { bytes[i + 1] - b'0' } else { 0 };
        digits += run;
        i += run;
        end = i;
        let begins = if run > 1 {
            pan::could_begin2(d0, d1)
        } else {
            pan::could_begin1(d0)
        };
        if first_start.is_none() && begins {
            first_start = Some(digits - run);
        }
        let mut seps = 0;
        loop {
            match bytes.get(i) {
                Some(b' ' | b'-' | b'.' | b'\t' | b'/' | b'\n' | b'\r') => {
                    seps += 1;
                    if seps > MAX_SEP_CHARS {
                        break 'chain;
                    }
                    // CR LF is one separator character, as the parser counts it (`chars::sep_at`).
                    i += if bytes.get(i..i + 2) == Some(b"\r\n") {
                        2
                    } else {
                        1
                    };
                }
                Some(b) if b.is_ascii_digit() => continue 'chain,
                // A non-ASCII digit or separator needs the full parser; anything else ends the chain.
                Some(&b) if b >= 0x80 => {
                    if chars::digit_at(text, i).is_some() || chars::sep_at(text, i).is_some() {
                        return None;
                    }
                    break 'chain;
                }
                _ => break 'chain,
            }
        }
    }
    // This scan is at least as permissive as the real parser (no limit on dashes and dots in a
    // separator run), so when it finds no possible start, or no run of groups that passes the IIN
    // table and Luhn, no chain the parser reads inside this span has one either, and the whole span
    // can be skipped.
    if first_start.is_some_and(|before| digits - before >= MIN_LEN)
        && luhn_candidate_in(bytes, p, end, digits)
    {
        return None;
    }
    Some(end)
}

/// Whether some run of whole groups of the ASCII chain `p..end` (digit runs, joined by anything)
/// has 12 to 19 digits, a prefix and length of the IIN table and a valid Luhn digit. Every card
/// either rule finds is such a run of its chain ([`must`] and [`judge`] ask for all three), and the
/// chains the parser reads inside the span are runs of its groups, so when none is, the span holds
/// no card. Only the starts that [`best_at`] would try are tried, and only while at least 12 of
/// the chain's `digits` are left from them.
fn luhn_candidate_in(bytes: &[u8], p: usize, end: usize, digits: usize) -> bool {
    let next_group = |mut i: usize| {
        while i < end && !bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut s = p;
    let mut left = digits; // digits from `s` to the chain's end
    while s < end && left >= MIN_LEN {
        let n0 = skip::ascii_digit_run(bytes, s);
        let begins = match bytes[s..s + n0] {
            [d0, d1, ..] => pan::could_begin2(d0 - b'0', d1 - b'0'),
            [d0] => pan::could_begin1(d0 - b'0'),
            [] => false,
        };
        if n0 <= MAX_LEN && begins {
            let mut run = [0u8; MAX_LEN];
            let (mut len, mut i) = (0, s);
            let mut lengths = None;
            while i < end {
                let n = skip::ascii_digit_run(bytes, i);
                if len + n > MAX_LEN {
                    break;
                }
                for (slot, b) in run[len..len + n].iter_mut().zip(&bytes[i..i + n]) {
                    *slot = b - b'0';
                }
                len += n;
                if lengths.is_none() && len >= 6 {
                    lengths = Some(pan::lengths_of(&run[..6]));
                }
                if let Some(l) = lengths {
                    if l >> len == 0 {
                        break; // no issued number is this long or longer
                    }
                    if len >= MIN_LEN && l & (1 << len) != 0 && pan::luhn_ok(&run[..len]) {
                        return true;
                    }
                }
                i = next_group(i + n);
            }
        }
        s = next_group(s + n0);
        left -= n0;
    }
    false
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
    done: bool,
    started: bool,
    last_end: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<Group> {
        if self.done {
            return None;
        }
        let mut joint = Joint::None;
        let mut single_dot = false;
        let mut chars_ = 0usize;
        if self.started {
            let (mut p, mut marks) = (self.pos, 0);
            while chars_ <= MAX_SEP_CHARS {
                let Some((kind, len)) = chars::sep_at(self.text, p) else {
                    break;
                };
                chars_ += 1;
                if kind != Sep::Space {
                    marks += 1;
                }
                joint = match joint {
                    Joint::None => Joint::Only(kind),
                    Joint::Only(k) if k == kind => joint,
                    _ => Joint::Mixed,
                };
                single_dot = chars_ == 1 && kind == Sep::Dot;
                p += len;
            }
            if chars_ == 0
                || chars_ > MAX_SEP_CHARS
                || marks > MAX_SEP_MARKS
                || chars::digit_at(self.text, p).is_none()
            {
                self.done = true;
                return None;
            }
            self.pos = p;
        }
        let seps = if self.started { chars_ as u8 } else { 0 };
        let start = self.pos;
        let mut n = 0;
        let mut first2 = [0u8; 2];
        let bytes = self.text.as_bytes();
        loop {
            // A run of ASCII digits eight bytes at a time (most groups are all ASCII)…
            let run = skip::ascii_digit_run(bytes, self.pos);
            for (slot, b) in first2
                .iter_mut()
                .skip(n)
                .zip(&bytes[self.pos..self.pos + run])
            {
                *slot = b - b'0';
            }
            n += run;
            self.pos += run;
            // …then one non-ASCII digit through the Unicode tables, if one follows.
            match bytes.get(self.pos) {
                Some(&b) if b >= 0x80 => match chars::digit_at(self.text, self.pos) {
                    Some((d, len)) => {
                        if let Some(slot) = first2.get_mut(n) {
                            *slot = d;
                        }
                        n += 1;
                        self.pos += len;
                    }
                    None => break,
                },
                _ => break,
            }
        }
        self.started = true;
        self.last_end = self.pos;
        Some(Group {
            start,
            end: self.pos,
            n,
            first2,
            joint,
            seps,
            single_dot,
        })
    }
}

/// Fixed-capacity queue of the groups ahead of the current start, and of up to [`BEHIND`] groups
/// of the same chain before it.
struct Ring {
    slots: [Group; RING],
    head: usize,
    /// Groups ahead: `get(0)` is the front group.
    len: usize,
    /// Groups kept behind the front: `at(-1)` is the one just before it.
    behind: usize,
    /// Digits in the groups ahead (saturating).
    digits: usize,
}

impl Ring {
    fn new() -> Self {
        Ring {
            slots: [Group::EMPTY; RING],
            head: 0,
            len: 0,
            behind: 0,
            digits: 0,
        }
    }
    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.behind = 0;
        self.digits = 0;
    }
    /// Parses groups until `digits` digits are ahead, the chain ends or the ring is full.
    fn fill(&mut self, parser: &mut Parser<'_>, digits: usize) {
        while !parser.done && self.digits < digits && self.len < RING - BEHIND {
            if let Some(g) = parser.next() {
                self.push(g);
            }
        }
    }
    fn push(&mut self, g: Group) {
        if self.len + self.behind == RING {
            self.behind -= 1;
        }
        self.digits = self.digits.saturating_add(g.n);
        self.slots[(self.head + self.len) % RING] = g;
        self.len += 1;
    }
    fn get(&self, k: usize) -> Option<&Group> {
        if k >= self.len {
            return None;
        }
        Some(&self.slots[(self.head + k) % RING])
    }
    /// The group `k` places from the front: negative for the groups kept behind it.
    fn at(&self, k: isize) -> Option<&Group> {
        if k >= 0 {
            return self.get(k as usize);
        }
        let back = k.unsigned_abs();
        if back > self.behind {
            return None;
        }
        Some(&self.slots[(self.head + RING - back) % RING])
    }
    fn pop(&mut self) -> Option<Group> {
        if self.len == 0 {
            return None;
        }
        let g = self.slots[self.head];
        self.head = (self.head + 1) % RING;
        self.len -= 1;
        self.behind = (self.behind + 1).min(BEHIND);
        self.digits = self.digits.saturating_sub(g.n);
        Some(g)
    }
    /// `k`, or the first index [`Ring::at`] has a group for when `k` lies further behind: the
    /// formats' windows start there, since a window that starts on no group matches nothing.
    fn first_at(&self, k: isize) -> isize {
        // `behind` is at most BEHIND (8), so it fits an isize.
        k.max(-(self.behind as isize))
    }
    /// Forgets the groups behind the front (after a card: its mask ends the chain there).
    fn forget_behind(&mut self) {
        self.behind = 0;
    }
    /// Digits in groups `0..=k` ahead.
    fn digits_through(&self, k: usize) -> usize {
        (0..=k).filter_map(|j| self.get(j)).map(|g| g.n).sum()
    }
}

/// The run of 4-digit groups, all joined alike, that ends just before the current start:
/// "9400 1118 9922 3845 6719 22" is one tracking number, not a card in its middle.
#[derive(Debug, Default)]
struct FoursRun {
    len: usize,
    joint: Option<Joint>,
    /// The run began at the chain's head (or just after a card).
    from_fresh: bool,
}

impl FoursRun {
    fn push(&mut self, g: &Group, fresh: bool) {
        if g.n != 4 {
            *self = FoursRun::default();
        } else if fresh || self.len == 0 || self.joint.is_some_and(|j| j != g.joint) {
            *self = FoursRun {
                len: 1,
                joint: None,
                from_fresh: fresh,
            };
        } else {
            self.len += 1;
            self.joint = Some(g.joint);
        }
    }

    /// Whether a 4-digit group joined by `joint` would continue this run.
    fn continued_by(&self, g: &Group) -> bool {
        g.n == 4
            && match self.len {
                0 => false,
                1 => self.from_fresh,
                _ => self.joint == Some(g.joint),
            }
    }
}

struct Start<'a> {
    at_head: bool,
    fresh: bool,
    head_glued: bool,
    head_plus: bool,
    /// Digits in the group before the front one, unless that was consumed by a card.
    prev_n: Option<usize>,
    run: &'a FoursRun,
    /// The chain began right after a '+' (or with `00`) and has at most 15 digits after it: an
    /// international phone number.
    phone: bool,
}

/// Grouping of a candidate: how much like a printed card number it looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One unbroken run, 4-4-4-4(-…) with a shorter last group, or 4-6-x (Amex, Diners).
    Card,
    /// Groups of three or more after a first group of at least four: possible, so redacted unless
    /// the words before it say it is something else.
    Odd,
}

fn shape(sizes: &[usize]) -> Option<Shape> {
    let (first, rest) = sizes.split_first()?;
    let Some((last, middle)) = rest.split_last() else {
        return Some(Shape::Card);
    };
    if *first == 4 && middle.iter().all(|&s| s == 4) && (1..=4).contains(last) {
        return Some(Shape::Card);
    }
    if *first == 4 && middle == [6] && (3..=9).contains(last) {
        return Some(Shape::Card);
    }
    if *first >= 4 && middle.iter().all(|&s| s >= 3) && *last >= 3 {
        return Some(Shape::Odd);
    }
    None
}

/// Whether digit groups of these sizes fall like a printed card number's: one unbroken run,
/// 4-4-4-4(-…) with a shorter last group, or 4-6-x. Split cards use the same groupings as breaks
/// (`fragments::printed_groupings`, which a test checks against this), because pieces may also
/// break a printed group where this takes every boundary for a group's end.
#[cfg(test)]
pub(crate) fn printed_like_a_card(sizes: &[usize]) -> bool {
    shape(sizes) == Some(Shape::Card)
}

/// The longest card that starts at the ring's front group, as (index of its last group, hit).
///
/// Two rules, and a card is what either finds:
/// - [`must`] (issue 17): whole groups joined by one separator character each, 13 to 19 digits, an
///   issued prefix and length and a valid Luhn digit are a card, whatever the grouping and the words
///   around, unless the run is one of the formats of [`exempt`];
/// - the grouping rules of issues 2 and 7 (any separator run, 12 digits too): sure candidates are
///   always cards, possible ones unless the context says otherwise.
fn best_at(
    text: &str,
    ring: &Ring,
    st: &Start<'_>,
    done: bool,
    tail_glued: bool,
) -> Option<(usize, Hit)> {
    let first = ring.get(0)?;
    // Most numbers fail here, on their first one or two digits, before any digits are copied.
    if first.n > MAX_LEN
        || !pan::could_begin1(first.first2[0])
        || (first.n > 1 && !pan::could_begin2(first.first2[0], first.first2[1]))
    {
        return None;
    }
    // The grouping rules need a first group of 4 digits or more.
    let grouped = first.n >= 4 && start_allowed(ring, st);
    // Starting right after a dash or dot that binds it to the digits before ("302-1234567-1234567"):
    // the tail of some other number, unless it looks exactly like a card.
    let tight =
        !st.at_head && !st.fresh && matches!(first.joint, Joint::Only(Sep::Dash | Sep::Dot));
    let mut digits = [0u8; MAX_LEN];
    let mut sizes = [0usize; MAX_LEN];
    let mut len = 0;
    let mut best = None;
    let mut prefix: Option<pan::Prefix> = None;
    // Every joint so far is one separator character.
    let mut single = true;
    let mut k = 0;
    while let Some(g) = ring.get(k) {
        if len + g.n > MAX_LEN {
            break;
        }
        single &= k == 0 || g.seps == 1;
        if !single && !grouped {
            break;
        }
        g.read(text, &mut digits[len..len + g.n]);
        len += g.n;
        sizes[k] = g.n;
        if prefix.is_none() && len >= 6 {
            // The first six digits decide which lengths can be cards at all.
            let pf = pan::Prefix::of(&digits[..6]);
            if pf.lengths() == 0 {
                break;
            }
            prefix = Some(pf);
        }
        let Some(pf) = prefix else {
            k += 1;
            continue;
        };
        if pf.lengths() >> len == 0 {
            break;
        }
        let is_last = done && k + 1 == ring.len;
        if len >= MIN_LEN && pf.lengths() & (1 << len) != 0 && !(is_last && tail_glued) {
            let glued_head = st.at_head && st.head_glued;
            let must_hit = (single && len >= MUST_MIN_LEN)
                .then(|| must(text, ring, 0, k, &digits[..len], pf, glued_head || st.phone))
                .flatten();
            if let Some(hit) = must_hit {
                best = Some((k, hit));
            } else if grouped {
                if let Some((hit, sure)) = judge(text, &digits[..len], pf, &sizes[..=k], first, g) {
                    let doubt = tight
                        || runs_on(text, ring, k)
                        || context::says_not_a_card(text, first.start);
                    if sure || !doubt {
                        best = Some((k, hit));
                    }
                }
            }
        }
        k += 1;
    }
    best
}

/// The issue-17 rule for the candidate over groups `s..=e` (`digits` are theirs, 13 to 19 of them,
/// joined by one separator character each): a card when its prefix and length are issued and it
/// passes Luhn, unless `excluded` (glued to a word before it, or a phone number) or [`exempt`].
fn must(
    text: &str,
    ring: &Ring,
    s: usize,
    e: usize,
    digits: &[u8],
    pf: pan::Prefix,
    excluded: bool,
) -> Option<Hit> {
    let (brand, _) = pf.brand(digits.len())?;
    if excluded || !pan::luhn_ok(digits) {
        return None;
    }
    let (first, last) = (ring.get(s)?, ring.get(e)?);
    if exempt(text, ring, s, e, first.start, last.end) {
        return None;
    }
    Some(Hit {
        start: first.start,
        end: last.end,
        brand,
        last4: last4_of(digits),
    })
}

fn last4_of(digits: &[u8]) -> [u8; 4] {
    let mut last4 = [b'0'; 4];
    for (slot, d) in last4.iter_mut().zip(&digits[digits.len() - 4..]) {
        *slot = b'0' + d;
    }
    last4
}

/// The longest [`must`] card from group `s` that ends after group `after`: a card overlapping the
/// one found over groups `0..=after`.
fn overlap(
    text: &str,
    ring: &Ring,
    s: usize,
    after: usize,
    done: bool,
    tail_glued: bool,
) -> Option<(usize, Hit)> {
    let first = ring.get(s)?;
    if first.n > MAX_LEN
        || !pan::could_begin1(first.first2[0])
        || (first.n > 1 && !pan::could_begin2(first.first2[0], first.first2[1]))
    {
        return None;
    }
    let mut digits = [0u8; MAX_LEN];
    let mut len = 0;
    let mut best = None;
    let mut k = s;
    while let Some(g) = ring.get(k) {
        if len + g.n > MAX_LEN || (k > s && g.seps != 1) {
            break;
        }
        g.read(text, &mut digits[len..len + g.n]);
        len += g.n;
        let is_last = done && k + 1 == ring.len;
        if k > after && len >= MUST_MIN_LEN && !(is_last && tail_glued) {
            let pf = pan::Prefix::of(&digits[..6]);
            if let Some(hit) = must(text, ring, s, k, &digits[..len], pf, false) {
                best = Some((k, hit));
            }
        }
        k += 1;
    }
    best
}

/// The named formats that are no card though their digits read as one, for the issue-17 rule
/// ([`must`]); each has a test in `tests/issue17.rs` and a line in docs/CARD-REDACTION.md. A
/// candidate that *starts* inside one of them is left alone, wherever it ends: whether a format is
/// there must not depend on digits after the candidate that masking a later card could remove
/// (idempotence), and a card that starts after the format is still found.
/// - an IBAN that validates (mod 97), or a UUID (a candidate with a digit in one, at either end, is
///   left alone): [`context::inside_code_validated`];
/// - a decimal number `d.ddd…`: 1 to 3 digits, a single `.`, the fraction;
/// - a calendar date (d-m-yyyy, m/d/yyyy, yyyy-mm-dd, one separator character, the same twice);
/// - an Amazon-style order number, 3-7-7 digits joined by single hyphens;
/// - a postal tracking number: 20 or 22 digits in groups of four from a first group that begins
///   with 9 (USPS IMpb, FedEx SmartPost), joined alike by one separator character.
///
/// Two more, checked by the caller: digits glued to a word (`ab4111…`, `…1111x`) and an
/// international phone number (a chain right after `+`, or after a first group `00…`, with at most
/// 15 digits after the `+` or the `00`).
fn exempt(text: &str, ring: &Ring, s: usize, e: usize, start: usize, end: usize) -> bool {
    let (s, e) = (s as isize, e as isize); // window indices: negative ones lie behind the front
    context::inside_code_validated(text, start, end)
        || decimal_fraction(ring, s, e)
        || in_date(text, ring, s)
        || order_3_7_7(ring, s)
        || postal_tracking(ring, s)
}

/// A decimal number `d.ddddd…` (1 to 3 digits, a single dot, and a fraction not followed by
/// another group joined the same way) that the candidate lies in: its validity depends only on
/// whether the group after it is joined by a dot, which masking cannot make true.
fn decimal_fraction(ring: &Ring, s: isize, e: isize) -> bool {
    (ring.first_at(s - 1)..=s).filter(|&t| t + 1 >= e).any(|t| {
        let (Some(int), Some(frac)) = (ring.at(t), ring.at(t + 1)) else {
            return false;
        };
        int.n <= 3 && frac.single_dot && ring.at(t + 2).is_none_or(|next| next.joint != frac.joint)
    })
}

/// Whether group `i` belongs to a calendar date of three groups (the candidate starts in it).
fn in_date(text: &str, ring: &Ring, i: isize) -> bool {
    (ring.first_at(i - 2)..=i).any(|t| date_at(text, ring, t))
}

fn date_at(text: &str, ring: &Ring, t: isize) -> bool {
    let (Some(a), Some(b), Some(c)) = (ring.at(t), ring.at(t + 1), ring.at(t + 2)) else {
        return false;
    };
    if b.seps != 1 || c.seps != 1 || b.joint != c.joint {
        return false;
    }
    let small = |g: &Group, hi: u32| g.n <= 2 && (1..=hi).contains(&g.value(text));
    let year = |g: &Group| g.n == 4 && (1900..=2099).contains(&g.value(text));
    (year(c) && ((small(a, 31) && small(b, 12)) || (small(a, 12) && small(b, 31))))
        || (year(a) && small(b, 12) && small(c, 31))
}

fn order_3_7_7(ring: &Ring, s: isize) -> bool {
    let dash = |g: &Group| g.seps == 1 && g.joint == Joint::Only(Sep::Dash);
    (ring.first_at(s - 2)..=s).any(|t| {
        let (Some(a), Some(b), Some(c)) = (ring.at(t), ring.at(t + 1), ring.at(t + 2)) else {
            return false;
        };
        (a.n, b.n, c.n) == (3, 7, 7)
            && dash(b)
            && dash(c)
            && !dash(a)
            && ring.at(t + 3).is_none_or(|g| !dash(g))
    })
}

fn postal_tracking(ring: &Ring, s: isize) -> bool {
    (ring.first_at(s - 6)..s).any(|t| {
        let Some(a) = ring.at(t) else { return false };
        let Some(b) = ring.at(t + 1) else {
            return false;
        };
        if a.n != 4 || a.first2[0] != 9 || b.seps != 1 {
            return false;
        }
        let mut digits = a.n;
        let mut j = t + 1;
        while let Some(g) = ring.at(j) {
            if g.joint != b.joint || g.seps != 1 || !(g.n == 4 || g.n == 2) {
                break;
            }
            digits += g.n;
            j += 1;
            if g.n == 2 {
                break;
            }
        }
        let last = j - 1;
        let joined_on = ring
            .at(j)
            .is_some_and(|g| g.joint == b.joint && g.seps == 1);
        (digits == 20 || digits == 22) && last >= s && !joined_on
    })
}

/// Whether a candidate of 4-digit groups ending at group `k` runs on into one more 4-digit group
/// joined the same way that is neither an expiry date nor the start of another card: then it may be
/// the head of a longer number ("5630 8894 3383 4494 0774"), which is doubt enough for a candidate
/// that is not sure. A sure card stays a card whatever follows it ("when in doubt, redact").
fn runs_on(text: &str, ring: &Ring, k: usize) -> bool {
    let (Some(last), Some(next)) = (ring.get(k), ring.get(k + 1)) else {
        return false;
    };
    if k == 0
        || next.n != 4
        || next.joint != last.joint
        || (0..=k).any(|j| ring.get(j).is_none_or(|g| g.n != 4))
    {
        return false;
    }
    let d = &next.first2;
    let month = d[0] * 10 + d[1];
    let expiry = (1..=12).contains(&month) || (d[0] == 2 && d[1] == 0);
    !expiry && !card_starts_at(text, ring, k + 1)
}

/// Whether some run of whole groups from group `s` has a card's prefix, length, Luhn digit and
/// grouping: a grouping of the older rules, or (issue 17) any grouping of 13 digits or more joined
/// by one separator character each. It may say yes for a run an exception then leaves alone; it
/// must not say no for a run that is masked, or masking that card would change the answer for the
/// candidate before it (idempotence).
fn card_starts_at(text: &str, ring: &Ring, s: usize) -> bool {
    let mut digits = [0u8; MAX_LEN];
    let mut sizes = [0usize; MAX_LEN];
    let mut len = 0;
    let mut single = true;
    let mut k = s;
    while let Some(g) = ring.get(k) {
        if len + g.n > MAX_LEN {
            return false;
        }
        single &= k == s || g.seps == 1;
        g.read(text, &mut digits[len..len + g.n]);
        len += g.n;
        sizes[k - s] = g.n;
        if pan::brand_of(&digits[..len]).is_some()
            && pan::luhn_ok(&digits[..len])
            && ((single && len >= MUST_MIN_LEN) || shape(&sizes[..=k - s]).is_some())
        {
            return true;
        }
        k += 1;
    }
    false
}

/// Rules on where a card may start inside a chain.
fn start_allowed(ring: &Ring, st: &Start<'_>) -> bool {
    let Some(g) = ring.get(0) else { return false };
    if st.at_head {
        // "ab4111…" is part of a code; "+61 …" is a phone number.
        return !st.head_glued && !st.head_plus;
    }
    if st.fresh {
        return true;
    }
    // Inside a run of 4-digit groups that began the chain: a long tracking or reference number.
    if st.run.continued_by(g) {
        return false;
    }
    // "0.5772156649015328": the digits after a decimal point.
    if let Some(prev_n) = st.prev_n {
        if g.single_dot && prev_n <= 3 && ring.get(1).is_none_or(|next| next.joint != g.joint) {
            return false;
        }
    }
    true
}

/// Whether the candidate digits (spanning groups `first..=last`) can be a card: then the hit, and
/// whether it is sure (printed like a card, with a usual length) or only possible.
fn judge(
    text: &str,
    digits: &[u8],
    prefix: pan::Prefix,
    sizes: &[usize],
    first: &Group,
    last: &Group,
) -> Option<(Hit, bool)> {
    let (brand, common_len) = prefix.brand(digits.len())?;
    if !pan::luhn_ok(digits) {
        return None;
    }
    let shape = shape(sizes)?;
    let (start, end) = (first.start, last.end);
    // The same IBAN and UUID test as the issue-17 rule's: a run left alone by one rule and masked by
    // the other next to it would break idempotence.
    if context::inside_code_validated(text, start, end) {
        return None;
    }
    Some((
        Hit {
            start,
            end,
            brand,
            last4: last4_of(digits),
        },
        shape == Shape::Card && common_len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(text: &str, fast_path: bool) -> Vec<Hit> {
        let mut out = Vec::new();
        scan_with(text, fast_path, |h| out.push(h));
        out
    }

    /// The fast path only skips chains the full parser finds nothing in: on random chains of digit
    /// groups, separators, Luhn-valid cards and their neighbours, both find the same cards.
    #[test]
    fn the_fast_path_changes_no_result() {
        const PIECES: &[&str] = &[
            "4111",
            "1111",
            "5555",
            "4444",
            "3782",
            "822463",
            "10005",
            "6011",
            "0",
            "12",
            "9400",
            "302",
            "4827361",
            "57",
            "72156649015328",
            "4111111111111111",
            "5555555555554444",
            "41111111111111111",
            "378282246310005",
            "30569309025904",
            "6",
            "81",
            "2221",
            "00",
        ];
        const JOINS: &[&str] = &[
            " ",
            "-",
            ".",
            "/",
            "\n",
            "\r\n",
            "  ",
            " - ",
            "\r\n\r\n\r\n ",
            "\n\n\n\n",
            ", ",
            "x",
            "+",
            "       ",
            "--",
            "..",
            "\t",
            "",
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for _ in 0..40_000 {
            let mut text = String::new();
            for _ in 0..1 + next(8) {
                text.push_str(PIECES[next(PIECES.len())]);
                text.push_str(JOINS[next(JOINS.len())]);
            }
            assert_eq!(hits(&text, true), hits(&text, false), "{text:?}");
        }
    }
}
