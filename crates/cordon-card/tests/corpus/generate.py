#!/usr/bin/env python3
"""Generate the labelled corpus `generated.jsonl` for cordon-card.

Cards are built from this file's own copy of the IIN table and its own Luhn code, independently of the
Rust detector; negatives are built from the formats of the things that only look like cards. Each
line: {"class": ..., "text": ..., "cards": [digits of each card, in order]}.

Deterministic: `python3 generate.py > generated.jsonl` always writes the same file.
"""
import json
import random
import string
import sys

R = random.Random(20261128)

# Brand, prefix ranges (inclusive, as strings of equal length), lengths. Same sources as src/pan.rs.
BRANDS = [
    ("Visa", [("4", "4")], [13, 16, 19]),
    ("Mastercard", [("51", "55"), ("2221", "2720")], [16]),
    ("Amex", [("34", "34"), ("37", "37")], [15]),
    ("Discover", [("6011", "6011"), ("622126", "622925"), ("644", "649"), ("65", "65")], [16, 17, 18, 19]),
    ("JCB", [("3528", "3589")], [16, 17, 18, 19]),
    ("Diners Club", [("300", "305"), ("309", "309"), ("36", "36"), ("38", "39")], [14, 15, 16, 17, 18, 19]),
    ("UnionPay", [("62", "62"), ("81", "81")], [16, 17, 18, 19]),
    ("Maestro", [("50", "50"), ("56", "69")], [12, 13, 14, 15, 16, 17, 18, 19]),
    ("Mir", [("2200", "2204")], [16, 17, 18, 19]),
]


def luhn_ok(s):
    total = 0
    for i, c in enumerate(reversed(s)):
        d = int(c)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def complete(body):
    """Append the Luhn check digit."""
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError


def is_card(digits):
    """Independent oracle: prefix and length issued, Luhn valid."""
    if not luhn_ok(digits):
        return False
    for _, ranges, lengths in BRANDS:
        if len(digits) not in lengths:
            continue
        for lo, hi in ranges:
            if lo <= digits[: len(lo)] <= hi:
                return True
    return False


def masked_if_card(text, number):
    """A negative, unless its digits are a card: then (issue 17) it is masked whatever the words say,
    and is labelled as such (class masked/…)."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return (text, [digits]) if len(digits) >= 13 and is_card(digits) else text


def plausible_card(digits):
    return is_card(digits) and len(digits) in (14, 15, 16)


def has_card_reading(formatted):
    """Whether whole groups of a formatted number read as a card: a card followed by more digits is
    still a card, so such a string is no negative."""
    groups, cur = [], ""
    for ch in formatted:
        if ch.isdigit():
            cur += str(int(ch))
        elif cur:
            groups.append(cur)
            cur = ""
    if cur:
        groups.append(cur)
    for i in range(len(groups)):
        d = ""
        for g in groups[i:]:
            d += g
            if len(d) > 19:
                break
            if is_card(d):
                return True
    return False


def make_card(brand=None, length=None):
    name, ranges, lengths = brand or R.choice(BRANDS)
    length = length or R.choice(lengths)
    lo, hi = R.choice(ranges)
    prefix = str(R.randint(int(lo), int(hi))).zfill(len(lo))
    body = prefix + "".join(R.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return name, complete(body)


def groupings(n, name):
    g = [[n], [4] * (n // 4) + ([n % 4] if n % 4 else [])]
    if n == 15:
        g.append([4, 6, 5])
    if n == 14:
        g.append([4, 6, 4])
    if n == 19:
        g.append([4, 4, 4, 4, 3])
    if n >= 16:
        g.append([n // 2, n - n // 2])
    return g


def split(digits, sizes):
    out, at = [], 0
    for s in sizes:
        out.append(digits[at : at + s])
        at += s
    return out


SEPS = [" ", " ", " ", "  ", "-", "-", ".", "\u00a0", "\u2009", "\u202f", "\u3000", "\u2013", "\u2014", " - ", "\u2007"]
SCRIPTS = {"ascii": 0x30, "fullwidth": 0xFF10, "arabic-indic": 0x660, "persian": 0x6F0, "devanagari": 0x966, "thai": 0xE50}


def in_script(s, script):
    zero = SCRIPTS[script]
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in s)


def format_card(digits, name, mixed_ok=True):
    sizes = R.choice(groupings(len(digits), name))
    groups = split(digits, sizes)
    if R.random() < 0.25 and mixed_ok:
        text = groups[0]
        for g in groups[1:]:
            text += R.choice(SEPS) + g
    else:
        sep = R.choice(SEPS)
        text = sep.join(groups)
    r = R.random()
    if r < 0.10:
        text = in_script(text, "fullwidth")
    elif r < 0.13:
        text = in_script(text, R.choice(["arabic-indic", "persian", "devanagari", "thai"]))
    return text


CARD_TEMPLATES = [
    "my card is {c}",
    "{c}",
    "Card number: {c}",
    "here you go {c} exp 11/28",
    "It's {c}, expiry 04/27, cvv 123",
    "can you charge {c} please?",
    "Hi, I want to pay with my card {c}. Thanks!",
    "{c} is my {b}",
    "use {c} for the order",
    "cc {c} zip 10001",
    "the number is {c} and the code is 737",
    "({c})",
    "\"{c}\"",
    "card:{c}",
    "我的信用卡号是 {c} 谢谢",
    "カード番号：{c}",
    "номер карты {c}",
    "رقم البطاقة {c}",
    "{b} {c}",
    "{c}\nexp 09/29",
    "pls refund to {c}!!",
    "ok so {c} — that's the one",
]

CVV_TEMPLATES = ["{c} {d3}", "{c} {d4}", "{c} {mm}/{yy} {d3}", "{c}, {d3}", "{c} exp {mm}{yy} cvv {d3}"]


def rdigits(n, first=None):
    s = "".join(R.choice(string.digits) for _ in range(n))
    if first is not None:
        s = first + s[1:]
    return s


def positives():
    out = []
    # Every brand, range and length, in every grouping.
    for brand in BRANDS:
        name, ranges, lengths = brand
        for length in lengths:
            for _ in range(40 if name in ("Visa", "Mastercard", "Amex") else 25):
                _, digits = make_card(brand, length)
                text = R.choice(CARD_TEMPLATES).format(c=format_card(digits, name), b=name)
                out.append({"class": f"card/{name}/{length}", "text": text, "cards": [digits]})
    # Known processor test numbers, in many formats.
    known = [
        "4111111111111111", "4242424242424242", "4012888888881881", "5555555555554444", "5105105105105100",
        "2223003122003222", "378282246310005", "371449635398431", "6011111111111117", "6011000990139424",
        "30569309025904", "38520000023237", "3530111333300000", "3566002020360505", "6200000000000005",
        "6759649826438453", "2200000000000004", "4222222222222", "6205500000000000004",
    ]
    for digits in known:
        for _ in range(8):
            text = R.choice(CARD_TEMPLATES).format(c=format_card(digits, ""), b="card")
            out.append({"class": "card/test-number", "text": text, "cards": [digits]})
    # Card followed by more digits (CVV, expiry).
    for _ in range(300):
        name, digits = make_card()
        c = format_card(digits, name, mixed_ok=False)
        t = R.choice(CVV_TEMPLATES).format(c=c, d3=rdigits(3), d4=rdigits(4), mm="%02d" % R.randint(1, 12), yy=R.randint(25, 35))
        out.append({"class": "card/with-trailing-digits", "text": t, "cards": [digits]})
    # Two cards in a message.
    for _ in range(80):
        (n1, d1), (n2, d2) = make_card(), make_card()
        t = f"first {format_card(d1, n1)} and also {format_card(d2, n2)}"
        out.append({"class": "card/two", "text": t, "cards": [d1, d2]})
    return out


def phone_numbers():
    p = []
    for _ in range(60):
        a, b, c = R.randint(200, 999), R.randint(200, 999), rdigits(4)
        p += [f"+1 ({a}) {b}-{c}", f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1-{a}-{b}-{c}", f"+1{a}{b}{c}", f"1-{a}-{b}-{c}"]
    intl = [
        ("44", lambda: f"20 {rdigits(4)} {rdigits(4)}"), ("44", lambda: f"7{rdigits(3)} {rdigits(6)}"),
        ("49", lambda: f"151 {rdigits(8)}"), ("49", lambda: f"30 {rdigits(4)} {rdigits(4)}"),
        ("33", lambda: f"6 {rdigits(2)} {rdigits(2)} {rdigits(2)} {rdigits(2)}"), ("61", lambda: f"4{rdigits(2)} {rdigits(3)} {rdigits(3)}"),
        ("62", lambda: f"8{rdigits(2)}-{rdigits(4)}-{rdigits(4)}"), ("63", lambda: f"9{rdigits(2)} {rdigits(3)} {rdigits(4)}"),
        ("60", lambda: f"1{rdigits(1)}-{rdigits(4)} {rdigits(4)}"), ("65", lambda: f"{rdigits(4)} {rdigits(4)}"),
        ("91", lambda: f"9{rdigits(4)} {rdigits(5)}"), ("86", lambda: f"13{rdigits(1)} {rdigits(4)} {rdigits(4)}"),
        ("81", lambda: f"90-{rdigits(4)}-{rdigits(4)}"), ("7", lambda: f"9{rdigits(2)} {rdigits(3)}-{rdigits(2)}-{rdigits(2)}"),
        ("55", lambda: f"11 9{rdigits(4)}-{rdigits(4)}"), ("234", lambda: f"80{rdigits(1)} {rdigits(3)} {rdigits(4)}"),
        ("57", lambda: f"3{rdigits(2)} {rdigits(7)}"), ("58", lambda: f"4{rdigits(2)} {rdigits(7)}"),
        ("593", lambda: f"9{rdigits(1)} {rdigits(3)} {rdigits(4)}"), ("66", lambda: f"8{rdigits(1)} {rdigits(3)} {rdigits(4)}"),
        ("380", lambda: f"{rdigits(2)} {rdigits(3)} {rdigits(4)}"), ("353", lambda: f"8{rdigits(1)} {rdigits(3)} {rdigits(4)}"),
        ("39", lambda: f"3{rdigits(2)} {rdigits(3)} {rdigits(4)}"), ("52", lambda: f"55 {rdigits(4)} {rdigits(4)}"),
    ]
    for _ in range(12):
        for cc, rest in intl:
            r = rest()
            p += [f"+{cc} {r}", f"00{cc} {r}", f"+{cc}{''.join(ch for ch in r if ch.isdigit())}", f"(+{cc}) {r}"]
            # International digits without '+', with a word that says it is a phone number. Issue 17:
            # words never narrow detection, so one whose digits are a card is masked (labelled so).
            p.append(masked_if_card(f"call {cc} {r}", cc + r))
            p.append(masked_if_card(f"whatsapp {cc}{''.join(ch for ch in r if ch.isdigit())}", cc + r))
    for _ in range(40):
        p += [f"0{rdigits(2)} {rdigits(4)} {rdigits(4)}", f"0{rdigits(4)} {rdigits(6)}", f"0{rdigits(3)}-{rdigits(4)}-{rdigits(4)}"]
    return p


def dates():
    d = []
    for _ in range(150):
        y, m, dd, hh, mi, ss = R.randint(1990, 2035), R.randint(1, 12), R.randint(1, 28), R.randint(0, 23), R.randint(0, 59), R.randint(0, 59)
        ts = R.randint(946684800, 2000000000)
        d += [
            f"{y}-{m:02}-{dd:02} {hh:02}:{mi:02}:{ss:02}", f"{dd:02}.{m:02}.{y} {hh:02}:{mi:02}", f"{m}/{dd}/{y}",
            f"{y}{m:02}{dd:02}{hh:02}{mi:02}{ss:02}", f"{y}{m:02}{dd:02} {hh:02}{mi:02}{ss:02}", f"{ts}", f"{ts}{R.randint(0, 999):03}",
            f"{ts}{R.randint(0, 999999):06}", f"{ts}{R.randint(0, 999999999):09}", f"{dd:02}.{m:02}.{y} - {dd:02}.{m:02}.{y + 1}",
            f"{y}.{m:02}.{dd:02} {y}.{m:02}.{dd:02}", f"{y}-{m:02}-{dd:02}T{hh:02}:{mi:02}:{ss:02}.{R.randint(0, 999999):06}Z",
        ]
    return d


def tracking():
    t = []
    for _ in range(120):
        ups = "1Z" + "".join(R.choice(string.ascii_uppercase + string.digits) for _ in range(6)) + rdigits(2) + rdigits(8)
        t += [ups, f"{ups[:2]} {ups[2:5]} {ups[5:8]} {ups[8:10]} {ups[10:14]} {ups[14:]}"]
        usps = R.choice(["9400", "9205", "9407", "9303", "9270", "9361"]) + rdigits(18)
        t += [usps, " ".join(usps[i : i + 4] for i in range(0, len(usps), 4)), "420" + rdigits(5) + usps]
        f20 = rdigits(20)
        t.append(f20)
        grouped = " ".join(f20[i : i + 4] for i in range(0, 20, 4))
        if not has_card_reading(grouped):
            t.append(grouped)
        t += [f"{R.randint(100, 999)}-{rdigits(7)}-{rdigits(7)}", f"#{R.randint(100, 999)}-{rdigits(7)}-{rdigits(7)}"]
        t += [f"TCK-{rdigits(6)}", f"#{rdigits(5)}", f"INC{rdigits(7)}", f"case {rdigits(8)}"]
    # FedEx 12 and 15 digits: anything, with the word that says what it is; but a number that is a card
    # of a usual length (14-16 digits) is redacted whatever the words say, so it is no negative.
    for _ in range(100):
        f12, f15 = rdigits(12), rdigits(15)
        while plausible_card(f15):
            f15 = rdigits(15)
        t += [f"FedEx tracking {f12}", f"fedex {f12[:4]} {f12[4:8]} {f12[8:]}", f"FedEx ground tracking: {f15}"]
        t += [f"order #{rdigits(12)}", f"Order no. {rdigits(4)} {rdigits(4)} {rdigits(4)}"]
        t13 = rdigits(13)
        t.append(masked_if_card(f"ticket {t13}", t13))
    return t


IBAN_FORMATS = {"GB": "4a14n", "DE": "18n", "FR": "10n11c2n", "NL": "4a10n", "ES": "20n", "IT": "1a10n12c", "CH": "5n12c", "BE": "12n", "PL": "24n", "AT": "16n", "SA": "2n18c", "IE": "4a14n", "PT": "21n", "SE": "20n", "DK": "14n", "NO": "11n", "FI": "14n"}


def iban(cc):
    fmt = IBAN_FORMATS[cc]
    bban, num = "", ""
    for ch in fmt:
        if ch.isdigit():
            num += ch
            continue
        n = int(num)
        num = ""
        alphabet = {"a": string.ascii_uppercase, "n": string.digits, "c": string.ascii_uppercase + string.digits}[ch]
        bban += "".join(R.choice(alphabet) for _ in range(n))
    rearranged = bban + cc + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in rearranged)) % 97
    return f"{cc}{check:02}{bban}"


def codes():
    c = []
    for _ in range(40):
        for cc in IBAN_FORMATS:
            ib = iban(cc)
            c += [ib, " ".join(ib[i : i + 4] for i in range(0, len(ib), 4)), "IBAN: " + " ".join(ib[i : i + 4] for i in range(0, len(ib), 4))]
    for _ in range(150):
        body = "978" + rdigits(9)
        s = sum(int(x) * (1 if i % 2 == 0 else 3) for i, x in enumerate(body))
        isbn13 = body + str((10 - s % 10) % 10)
        c += [isbn13, f"ISBN {isbn13[:3]}-{isbn13[3]}-{isbn13[4:7]}-{isbn13[7:12]}-{isbn13[12]}", f"ISBN-10 {rdigits(1)}-{rdigits(3)}-{rdigits(5)}-{rdigits(1)}"]
        u = "".join(R.choice("0123456789abcdef") for _ in range(32))
        u = u[:12] + "4" + u[13:16] + R.choice("89ab") + u[17:]
        c.append(f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}")
        ud = rdigits(32)
        c.append(f"{ud[:8]}-{ud[8:12]}-{ud[12:16]}-{ud[16:20]}-{ud[20:]}")
        for n in (32, 40, 64):
            c.append("".join(R.choice("0123456789abcdef") for _ in range(n)))
        # Hex with long digit stretches inside.
        c.append("".join(R.choice("abcdef") for _ in range(3)) + rdigits(16) + "".join(R.choice("abcdef") for _ in range(5)))
    return c


def numbers():
    n = []
    for _ in range(150):
        n += [
            f"${R.randint(1, 999)},{R.randint(0, 999):03},{R.randint(0, 999):03}.{R.randint(0, 99):02}",
            f"{R.randint(1, 999)} {R.randint(0, 999):03} {R.randint(0, 999):03} {R.randint(0, 999):03},{R.randint(0, 99):02} €",
            f"{R.randint(1, 999)}.{R.randint(0, 999):03}.{R.randint(0, 999):03}.{R.randint(0, 999):03}",
            f"v{R.randint(0, 20)}.{R.randint(0, 50)}.{R.randint(0, 200)}",
            f"{R.randint(1, 255)}.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(0, 255)}",
            f"{R.randint(0, 9)}.{rdigits(R.randint(12, 19))}",
            rdigits(R.randint(20, 40), first=R.choice("3456")),
        ]
    return n


def near_misses():
    m = []

    def clean(d, name, mixed_ok=True):
        """A grouping of `d` in which no whole groups read as a card, or None."""
        for _ in range(12):
            s = format_card(d, name, mixed_ok)
            if not has_card_reading(s):
                return s
        return None

    for _ in range(400):
        name, digits = make_card()
        bad = digits[:-1] + str((int(digits[-1]) + R.randint(1, 9)) % 10)
        assert not luhn_ok(bad)
        m.append(("luhn-invalid", clean(bad, name, mixed_ok=False)))
    unused = ["0", "1", "7", "80", "82", "85", "9", "31", "32", "33", "2100", "2205", "2210", "2721", "2800", "29", "306", "3510"]
    for _ in range(400):
        length = R.randint(12, 19)
        prefix = R.choice(unused)
        d = complete(prefix + rdigits(length - len(prefix) - 1))
        assert not is_card(d)
        m.append(("unused-prefix", clean(d, "", mixed_ok=False)))
    for _ in range(150):
        # Issued prefixes at lengths the brand does not issue.
        for prefix, length in (("4", 14), ("4", 15), ("4", 17), ("51", 15), ("34", 16), ("37", 14), ("3528", 15), ("2221", 17)):
            d = complete(prefix + rdigits(length - len(prefix) - 1))
            if not is_card(d):
                m.append(("wrong-length", clean(d, "", mixed_ok=False)))
    for _ in range(100):
        name, digits = make_card()
        m.append(("run-over-19", digits + rdigits(R.randint(4, 10))))
        m.append(("run-over-19", rdigits(max(1, 20 - len(digits)) + R.randint(0, 4)) + digits))
    return m


NEG_TEMPLATES = ["{x}", "hi, it's {x}", "see {x} thanks", "{x}.", "ok ({x})", "ref: {x}", "你好 {x}", "{x} — let me know"]


def negatives():
    out = []
    groups = [("phone", phone_numbers()), ("date-time", dates()), ("tracking-order", tracking()), ("code", codes()), ("number", numbers())]
    for cls, items in groups:
        for x in items:
            if isinstance(x, tuple):
                x, cards = x
                out.append({"class": f"masked/{cls}", "text": R.choice(NEG_TEMPLATES).format(x=x), "cards": cards})
                continue
            out.append({"class": f"not-card/{cls}", "text": R.choice(NEG_TEMPLATES).format(x=x), "cards": []})
    for cls, x in near_misses():
        if x is None:
            continue
        out.append({"class": f"not-card/{cls}", "text": R.choice(NEG_TEMPLATES).format(x=x), "cards": []})
    return out


# ---------------------------------------------------------------------------------------------------
# Issue 17. A second generator (its own seed, so every line above stays as it was): cards typed in
# irregular groups, and hard negatives, each checked against this file's own reading of the rule.

R2 = random.Random(20261217)

# One separator character between groups (spaces, dashes, dots, slashes of several scripts, line breaks).
SEP1 = [" ", " ", "-", "-", ".", "/", "\n", "\r\n", "\u00a0", "\u2009", "\u2013", "\u2212", "\uff0f", "\u2028", "\u30fb"]
SEP1_CHARS = set("".join(SEP1)) | {"\t", "\u2010", "\u2011", "\u2012", "\u2014", "\u2044", "\u2215", "\uff0e", "\u00b7", "\u3000", "\u202f"}


def groups_of(text):
    """Chains of digit groups joined by exactly one separator (CR LF counts as one), as
    [(digits, start, end, sep_before)] lists."""
    chains, cur, i = [], [], 0
    while i < len(text):
        if text[i].isdigit():
            j = i
            while j < len(text) and text[j].isdigit():
                j += 1
            d = "".join(str(int(c)) for c in text[i:j])
            sep = None
            if cur:
                between = text[cur[-1][2]:i]
                if between == "\r\n" or (len(between) == 1 and between in SEP1_CHARS):
                    sep = "\n" if between == "\r\n" else between
                else:
                    chains.append(cur)
                    cur = []
            cur.append((d, i, j, sep))
            i = j
        else:
            if cur and not (text[i] in SEP1_CHARS or text[i] == "\r"):
                chains.append(cur)
                cur = []
            i += 1
    if cur:
        chains.append(cur)
    return chains


def is_date(chain, k):
    def small(g, hi):
        return len(g[0]) <= 2 and 1 <= int(g[0]) <= hi

    def year(g):
        return len(g[0]) == 4 and 1900 <= int(g[0]) <= 2099

    for t in range(k - 2, k + 1):
        if t < 0 or t + 2 >= len(chain):
            continue
        a, b, c = chain[t], chain[t + 1], chain[t + 2]
        if b[3] is None or b[3] != c[3]:
            continue
        if year(c) and ((small(a, 31) and small(b, 12)) or (small(a, 12) and small(b, 31))):
            return True
        if year(a) and small(b, 12) and small(c, 31):
            return True
    return False


def rule17_readings(text):
    """Card readings under the issue-17 rule that none of its named exceptions covers."""
    found = []
    for chain in groups_of(text):
        before = text[chain[0][1] - 1] if chain[0][1] > 0 else ""
        total = sum(len(g[0]) for g in chain)
        if before == "+" and total <= 15:
            continue  # E.164 phone number
        if chain[0][0].startswith("00") and total - 2 <= 15:
            continue  # phone number after the 00 dialling prefix
        for s in range(len(chain)):
            d = ""
            for e in range(s, len(chain)):
                d += chain[e][0]
                if len(d) > 19:
                    break
                if not is_card(d):
                    continue
                if len(d) < 13 and not (len(chain[s][0]) >= 4 and all(len(g[0]) >= 3 for g in chain[s:e + 1])):
                    continue  # 12 digits: only the groupings of issues 2 and 7 make a card
                start, end = chain[s][1], chain[e][2]
                if (start > 0 and (text[start - 1].isalpha() or text[start - 1] == "_")) or (end < len(text) and (text[end].isalpha() or text[end] == "_")):
                    continue  # glued to a word
                if all(is_date(chain, k) for k in range(s, e + 1)):
                    continue
                sizes = [len(g[0]) for g in chain]
                if sizes == [3, 7, 7] and chain[1][3] == chain[2][3] == "-":
                    continue  # order number 3-7-7
                if chain[0][0][0] == "9" and all(len(g[0]) == 4 for g in chain[:-1]) and len(chain[-1][0]) in (2, 4) and total in (20, 22) and len({g[3] for g in chain[1:]}) == 1:
                    continue  # postal tracking number
                if e <= 1 and len(chain) == 2 and len(chain[0][0]) <= 3 and chain[1][3] == ".":
                    continue  # decimal number
                found.append(d)
    return found


def r2digits(n, first=None):
    s = "".join(R2.choice(string.digits) for _ in range(n))
    return (first + s[1:]) if first else s


def r2card(brand=None, length=None):
    name, ranges, lengths = brand or R2.choice(BRANDS)
    length = length or R2.choice([x for x in lengths if x >= 13])
    lo, hi = R2.choice(ranges)
    prefix = str(R2.randint(int(lo), int(hi))).zfill(len(lo))
    return name, complete(prefix + r2digits(length - len(prefix) - 1))


def irregular(digits):
    """The issue's shapes and random ones: 12+2, 8+4+4, 4+8+2+2, 8-8 with the check digit split off,
    groups of 1 to 7, one separator character each (mixed or not)."""
    n = len(digits)
    shapes = [[n - 2, 2], [8, 4, n - 12], [4, 8, 2, n - 14], [8, n - 9, 1], [n - 1, 1], [4] * (n // 4) + ([n % 4] if n % 4 else [])]
    sizes = R2.choice(shapes) if R2.random() < 0.5 else None
    if not sizes or min(sizes) <= 0:
        sizes, left = [], n
        while left:
            k = min(left, R2.randint(1, 7))
            sizes.append(k)
            left -= k
    groups = split(digits, sizes)
    mixed = R2.random() < 0.4
    sep = R2.choice(SEP1)
    text = groups[0]
    for g in groups[1:]:
        text += (R2.choice(SEP1) if mixed else sep) + g
    return text


SHAPE_TEMPLATES = [
    "{c}", "my id {c}", "order {c}", "tracking {c}", "ref {c}", "card:\n{c}\nthanks", "the number is {c}",
    "{p} {c}", "{c} {q}", "id: {c}", "phone {c}", "my card is {c} exp 12/29",
]


def new_shape_positives():
    out = []
    for brand in BRANDS:
        for length in [x for x in brand[2] if x >= 13]:
            for _ in range(12):
                _, d = r2card(brand, length)
                for _ in range(20):
                    c = irregular(d)
                    t = R2.choice(SHAPE_TEMPLATES).format(c=c, p=r2digits(4, R2.choice("12345678")), q=r2digits(R2.randint(1, 4)))
                    if d in rule17_readings(t) or any(d in x or x in d for x in rule17_readings(t)):
                        break
                else:
                    continue
                out.append({"class": f"card/issue17/{brand[0]}/{length}", "text": t, "cards": [d]})
    # A card after a run of other digits, and overlapping candidates.
    for _ in range(60):
        _, d = r2card(R2.choice([b for b in BRANDS if 16 in b[2]]), 16)
        lead = r2digits(4, R2.choice("12345678"))
        t = f"{lead} {' '.join(d[i:i + 4] for i in range(0, 16, 4))}"
        out.append({"class": "card/issue17/after-digits", "text": t, "cards": [d]})
    return out


def hard_negative_pool():
    """(class, text) candidates: order numbers, phone numbers of many countries, carrier tracking
    numbers, dates, amounts."""
    c = R2.choice
    d = r2digits
    items = []
    for _ in range(400):
        items += [
            ("order", f"order #{d(3, c('1234'))}-{d(7)}-{d(7)}"),
            ("order", f"Order {d(3)}-{d(7)}-{d(7)} has shipped"),
            ("order", f"eBay order {d(2)}-{d(5)}-{d(5)}"),
            ("order", f"order no. {d(10, c('123456789'))}"),
            ("order", f"Walmart order {d(13, '2')}"),
            ("order", f"#{d(4)}"),
            ("order", f"SO-{d(4)}-{d(8)}"),
            ("phone", f"+1 {d(3, c('23456789'))}-{d(3)}-{d(4)}"),
            ("phone", f"+44 7{d(3)} {d(6)}"),
            ("phone", f"+49 1{d(2)} {d(8)}"),
            ("phone", f"0049 1{d(2)} {d(8)}"),
            ("phone", f"+33 {c('67')} {d(2)} {d(2)} {d(2)} {d(2)}"),
            ("phone", f"+34 6{d(2)} {d(3)} {d(3)}"),
            ("phone", f"+39 3{d(2)} {d(7)}"),
            ("phone", f"+31 6 {d(8)}"),
            ("phone", f"+46 7{d(1)} {d(3)} {d(2)} {d(2)}"),
            ("phone", f"+48 {d(3, c('5678'))} {d(3)} {d(3)}"),
            ("phone", f"+90 5{d(2)} {d(3)} {d(2)} {d(2)}"),
            ("phone", f"+91 {d(5, c('6789'))} {d(5)}"),
            ("phone", f"+86 1{d(2)} {d(4)} {d(4)}"),
            ("phone", f"+81 90-{d(4)}-{d(4)}"),
            ("phone", f"+82 10-{d(4)}-{d(4)}"),
            ("phone", f"+62 8{d(2)}-{d(4)}-{d(4)}"),
            ("phone", f"+63 9{d(2)} {d(3)} {d(4)}"),
            ("phone", f"+55 11 9{d(4)}-{d(4)}"),
            ("phone", f"+52 55 {d(4)} {d(4)}"),
            ("phone", f"+27 {d(2, c('678'))} {d(3)} {d(4)}"),
            ("phone", f"+234 80{d(1)} {d(3)} {d(4)}"),
            ("phone", f"+971 5{d(1)} {d(3)} {d(4)}"),
            ("phone", f"+61 4{d(2)} {d(3)} {d(3)}"),
            ("phone", f"+7 9{d(2)} {d(3)}-{d(2)}-{d(2)}"),
            ("phone", f"0{d(3)} {d(3)} {d(4)}"),
            ("phone", f"({d(3, c('23456789'))}) {d(3)}-{d(4)}"),
            ("tracking", f"UPS 1Z{''.join(R2.choice(string.ascii_uppercase + string.digits) for _ in range(6))}{d(10)}"),
            ("tracking", f"FedEx {d(12)}"),
            ("tracking", f"FedEx {d(4)} {d(4)} {d(4)}"),
            ("tracking", f"FedEx 96{d(2)} {d(4)} {d(4)} {d(4)} {d(4)}"),
            ("tracking", f"USPS {c(['9400', '9205', '9361', '9270'])} {d(4)} {d(4)} {d(4)} {d(4)} {d(2)}"),
            ("tracking", f"USPS {c(['9400', '9205'])}{d(18)}"),
            ("tracking", f"DHL {d(10)}"),
            ("tracking", f"DHL JJD{d(18)}"),
            ("tracking", f"Royal Mail {''.join(R2.choice(string.ascii_uppercase) for _ in range(2))}{d(9)}GB"),
            ("tracking", f"Amazon TBA{d(12)}"),
            ("tracking", f"Canada Post {d(4, '7')} {d(4)} {d(4)} {d(4)}"),
            ("date", f"{R2.randint(1, 28):02}.{R2.randint(1, 12):02}.{R2.randint(1990, 2035)} {R2.randint(1, 28):02}.{R2.randint(1, 12):02}.{R2.randint(1990, 2035)}"),
            ("date", f"{R2.randint(1, 12)}/{R2.randint(1, 28)}/{R2.randint(1990, 2035)} {R2.randint(1, 12)}/{R2.randint(1, 28)}/{R2.randint(1990, 2035)}"),
            ("date", f"{R2.randint(1990, 2035)}-{R2.randint(1, 12):02}-{R2.randint(1, 28):02}\n{R2.randint(1990, 2035)}-{R2.randint(1, 12):02}-{R2.randint(1, 28):02}"),
            ("date", f"{R2.randint(1, 28)}/{R2.randint(1, 12)}/{R2.randint(1990, 2035)}-{R2.randint(1, 28)}/{R2.randint(1, 12)}/{R2.randint(1990, 2035)}"),
            ("amount", f"${R2.randint(1, 999)},{d(3)},{d(3)}.{d(2)}"),
            ("amount", f"{R2.randint(1, 999)} {d(3)} {d(3)},{d(2)} €"),
            ("amount", f"{R2.randint(1, 999)}.{d(3)}.{d(3)},{d(2)} EUR"),
            ("amount", f"₹{R2.randint(1, 99)},{d(2)},{d(3)}.{d(2)}"),
            ("amount", f"CHF {R2.randint(1, 999)}'{d(3)}'{d(3)}.{d(2)}"),
            ("amount", f"{R2.randint(1, 9)}.{d(R2.randint(12, 18))}"),
        ]
    return items


def hard_negatives(n=600):
    """`n` hard negatives spread over the classes, each with no card reading under the rule; those that
    had one are counted (stderr), since the rule masks them."""
    pool = hard_negative_pool()
    R2.shuffle(pool)
    out, masked, per_class = [], {}, {}
    quota = n // 5
    for cls, x in pool:
        if per_class.get(cls, 0) >= quota:
            continue
        if rule17_readings(x):
            masked[cls] = masked.get(cls, 0) + 1
            continue
        per_class[cls] = per_class.get(cls, 0) + 1
        out.append({"class": f"not-card/issue17/{cls}", "text": R2.choice(NEG_TEMPLATES).format(x=x), "cards": []})
    tried = {k: per_class.get(k, 0) + masked.get(k, 0) for k in set(per_class) | set(masked)}
    sys.stderr.write("hard negatives: " + ", ".join(f"{k} {per_class.get(k, 0)} kept, {masked.get(k, 0)} of {tried[k]} drawn read as a card" for k in sorted(tried)) + "\n")
    return out


def main():
    rows = positives() + negatives() + new_shape_positives() + hard_negatives()
    for row in rows:
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
