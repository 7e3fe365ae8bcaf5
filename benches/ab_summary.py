#!/usr/bin/env python3
"""Summarise a benches/ab.sh run: medians over runs, per offered rate, before and after."""
import json, statistics, sys
from pathlib import Path

out = Path(sys.argv[1])

def steps(doc):
    # The step rows are the dicts that carry an offered rate, wherever the result file keeps them.
    if isinstance(doc, dict):
        if "offered_rate" in doc:
            yield doc
        for v in doc.values():
            yield from steps(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from steps(v)

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def fmt(x, unit=""):
    return "–" if x is None else f"{x:,.1f}{unit}" if x < 100 else f"{x:,.0f}{unit}"

for kind, cpu_key, lat, io_key in [
        ("chat", "server_cpu_us_per_msg", "visitor_to_agent", "server_write_bytes_per_msg"),
        ("storm", "server_cpu_us_per_session", "session", "server_write_bytes_per_session")]:
    table = {}
    best = {"before": [], "after": []}
    for side in ("before", "after"):
        for f in sorted(out.glob(f"{kind}-{side}-*.json")):
            top = 0
            for s in steps(json.loads(f.read_text())):
                row = table.setdefault(s["offered_rate"], {"before": [], "after": []})
                row[side].append(s)
                if s.get("ok"):
                    top = max(top, s["offered_rate"])
            best[side].append(top)
    print(f"\n{kind}: highest clean rate, runs: before {best['before']} after {best['after']}; "
          f"medians {med(best['before'])} -> {med(best['after'])}")
    print(f"| offered/s | CPU µs before (runs) | after (runs) | after ÷ before | p99 ms before / after | disk bytes before / after | clean runs before / after |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for rate in sorted(table):
        b, a = table[rate]["before"], table[rate]["after"]
        cb, ca = med([s.get(cpu_key) for s in b]), med([s.get(cpu_key) for s in a])
        pb = med([s.get(lat, {}).get("p99_ms") for s in b])
        pa = med([s.get(lat, {}).get("p99_ms") for s in a])
        ratio = f"{ca / cb:.2f}" if ca and cb else "–"
        runs = lambda ss: " / ".join(fmt(s.get(cpu_key)) for s in ss)
        ib, ia = med([s.get(io_key) for s in b]), med([s.get(io_key) for s in a])
        print(f"| {rate:,.0f} | {fmt(cb)} ({runs(b)}) | {fmt(ca)} ({runs(a)}) | {ratio} | {fmt(pb)} / {fmt(pa)} | {fmt(ib)} / {fmt(ia)} "
              f"| {sum(bool(s.get('ok')) for s in b)} / {sum(bool(s.get('ok')) for s in a)} |")
