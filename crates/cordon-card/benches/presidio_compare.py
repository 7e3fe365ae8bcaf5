#!/usr/bin/env python3
"""Compare `cordon redact` with Microsoft Presidio's CreditCardRecognizer on the same inputs.

Recall and false positives of both on the labelled corpus (tests/corpus), and speed of both on the
same two texts: sparse-digit chat and the digit-dense corpus itself. Presidio runs in-process after
a warm-up (its steady state); cordon runs as a whole process, stdin to stdout, as a user would run it.

    pip install presidio-analyzer
    cargo build --release -p cordon
    python3 crates/cordon-card/benches/presidio_compare.py [--cordon target/release/cordon]

Presidio's AnalyzerEngine needs a spaCy model that cannot be downloaded here, so the recognizer is
instantiated directly: it is a pattern recognizer (regex, then Luhn) and needs no NLP artifacts.
"""
import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "tests", "corpus")


def unescape(s):
    s = re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda m: chr(int(m.group(1), 16)), s)
    return s.replace("\\n", "\n")


def load_corpus():
    cases = []
    with open(os.path.join(CORPUS, "hand.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            labels, text = line.split(" | ", 1)
            cards = [l[1:] for l in labels.split() if l != "-"]
            cases.append({"class": "hand/" + ("card" if cards else "not-card"), "text": unescape(text), "cards": cards})
    with open(os.path.join(CORPUS, "generated.jsonl"), encoding="utf-8") as f:
        for line in f:
            cases.append(json.loads(line))
    return cases


def digits_of(s):
    out = []
    for ch in s:
        if ch.isdecimal():
            out.append(str(int(ch)))
    return "".join(out)


def score(cases, spans_per_case):
    """spans_per_case: for each case, the list of found substrings. Returns (found, cards, fp_cases, negatives)."""
    found = cards = fp = negatives = 0
    per_class = {}
    for case, spans in zip(cases, spans_per_case):
        ds = [digits_of(s) for s in spans]
        # Generated card classes are card/<brand>/<length>: group them by brand.
        parts = case["class"].split("/")
        cls = "/".join(parts[:2])
        c = per_class.setdefault(cls, [0, 0, 0, 0])
        for card in case["cards"]:
            cards += 1
            c[1] += 1
            if any(card in d for d in ds):
                found += 1
                c[0] += 1
        if not case["cards"]:
            negatives += 1
            c[3] += 1
        if any(not any(card in d for card in case["cards"]) for d in ds):
            fp += 1
            c[2] += 1
    return found, cards, fp, negatives, per_class


def presidio_spans(recognizer, cases):
    out = []
    for case in cases:
        res = recognizer.analyze(case["text"], ["CREDIT_CARD"], None)
        out.append([case["text"][r.start : r.end] for r in res])
    return out


def cordon_spans(cordon, cases):
    payload = "".join(json.dumps({"text": c["text"]}, ensure_ascii=False) + "\n" for c in cases).encode()
    p = subprocess.run([cordon, "redact", "--jsonl"], input=payload, capture_output=True, check=True)
    out = []
    for case, line in zip(cases, p.stdout.decode().splitlines()):
        raw = case["text"].encode()
        out.append([raw[f["start"] : f["end"]].decode() for f in json.loads(line)["findings"]])
    return out


CHAT = [
    "Hi, I ordered a blue jacket last week and it still hasn't arrived, can you check?",
    "Sure! Could you give me the email address you used for the order?",
    "Thanks Jane, one moment while I look that up for you.",
    "I can see the parcel left our warehouse yesterday and should be with you tomorrow.",
    "Is there anything else I can help you with today?",
    "Do you ship to Canada? And how long does it usually take?",
    "We do! Standard shipping takes 5 to 7 business days, express takes 2.",
    "The discount code doesn't seem to work at checkout, it says expired.",
    "Yes, returns are free within 30 days, just use the link in your receipt email.",
    "ok cool 👍 thanks",
]
NUMBERS = ["at 3:45pm", "for $24.99", "order #48213", "on 12/03", "call 555-0142", "+44 20 7946 0958", "2024-01-15"]
CARDS = ["4111 1111 1111 1111", "5555-5555-5555-4444", "3782 822463 10005", "6011000990139424"]


def chat_text(size):
    r = random.Random(7)
    parts, n = [], 0
    while n < size:
        s = r.choice(CHAT)
        if r.random() < 0.25:
            s += " " + r.choice(NUMBERS)
        if r.random() < 0.005:
            s += " my card is " + r.choice(CARDS)
        parts.append(s)
        n += len(s.encode()) + 1
    return parts


def time_presidio(recognizer, lines, min_seconds=5.0):
    """Steady-state MB/s over per-message calls (one call per line), after a warm-up pass:
    (best wall-clock pass, the same pass per CPU-second)."""
    for l in lines[:2000]:
        recognizer.analyze(l, ["CREDIT_CARD"], None)
    total = sum(len(l.encode()) + 1 for l in lines)
    best = (0.0, 0.0)
    runs = 0
    start_all = time.perf_counter()
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        for l in lines:
            recognizer.analyze(l, ["CREDIT_CARD"], None)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        best = max(best, (total / dt / 1e6, total / dc / 1e6))
        runs += 1
        if time.perf_counter() - start_all > min_seconds and runs >= 2:
            return best


def time_cordon(cordon, lines, target_bytes=256 << 20, runs=5):
    """Whole-process MB/s: `cordon redact < file > /dev/null`, input repeated to target_bytes; median of runs."""
    block = ("\n".join(lines) + "\n").encode()
    reps = max(1, target_bytes // len(block))
    with tempfile.NamedTemporaryFile(delete=False) as f:
        for _ in range(reps):
            f.write(block)
        path = f.name
    size = os.path.getsize(path)
    speeds, cpu_speeds = [], []
    try:
        for _ in range(runs):
            with open(path, "rb") as fin, open(os.devnull, "wb") as fout:
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run([cordon, "redact"], stdin=fin, stdout=fout, check=True)
                speeds.append(size / (time.perf_counter() - t0) / 1e6)
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
                cpu_speeds.append(size / cpu / 1e6)
    finally:
        os.unlink(path)
    speeds.sort()
    cpu_speeds.sort()
    return speeds[len(speeds) // 2], cpu_speeds[len(cpu_speeds) // 2], size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cordon", default=os.path.join(HERE, "..", "..", "..", "target", "release", "cordon"))
    ap.add_argument("--cordon-mb", type=int, default=256, help="size of the whole-process input, MB")
    args = ap.parse_args()

    from importlib.metadata import version

    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer

    rec = CreditCardRecognizer()
    cases = load_corpus()

    print(f"presidio-analyzer {version('presidio-analyzer')}; "
          f"corpus: {len(cases)} messages, {sum(len(c['cards']) for c in cases)} cards, "
          f"{sum(1 for c in cases if not c['cards'])} card-free messages")
    results = {}
    for name, spans in (("presidio", presidio_spans(rec, cases)), ("cordon", cordon_spans(args.cordon, cases))):
        found, cards, fp, neg, per_class = score(cases, spans)
        results[name] = per_class
        print(f"{name:9s} recall {found}/{cards} = {100 * found / cards:.1f}%   messages with a hit on no labelled card: {fp} "
              f"({neg} of the messages hold no card)")
    print("\nrecall by class (presidio | cordon):")
    for cls in sorted(results["cordon"]):
        p, c = results["presidio"][cls], results["cordon"][cls]
        if c[1]:
            print(f"  {cls:32s} {p[0]:5d}/{p[1]:<5d} | {c[0]:5d}/{c[1]:<5d}")
    print("false positives by class (presidio | cordon):")
    for cls in sorted(results["cordon"]):
        p, c = results["presidio"][cls], results["cordon"][cls]
        if p[2] or c[2]:
            print(f"  {cls:32s} {p[2]:5d} | {c[2]:5d}")

    print("\nspeed (same text for both; presidio: one analyze() per line, best of several passes after warm-up;"
          " cordon: whole process stdin to /dev/null, median of 5); wall clock, then per CPU-second:")
    inputs = {"sparse chat": chat_text(4 << 20), "digit-dense corpus": [c["text"].replace("\n", " ") for c in cases]}
    for name, lines in inputs.items():
        p, p_cpu = time_presidio(rec, lines)
        c, c_cpu, size = time_cordon(args.cordon, lines, args.cordon_mb << 20)
        print(f"  {name:20s} presidio {p:7.1f} MB/s   cordon redact {c:8.1f} MB/s ({size >> 20} MiB)   ratio {c / p:6.0f}x")
        print(f"  {'':20s} per CPU-s {p_cpu:6.1f} MB/s   per CPU-s     {c_cpu:8.1f} MB/s              ratio {c_cpu / p_cpu:6.0f}x")


if __name__ == "__main__":
    sys.exit(main())
