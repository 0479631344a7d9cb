#!/usr/bin/env python3
"""Prints a Markdown table of a jcstress console log: per test, samples per observed outcome.

Usage: java -jar target/jcstress.jar -v ... > run.log; python3 summarize.py run.log
Reads the "Results across all configurations" blocks after "RUN RESULTS" that jcstress prints with -v (or for
failed tests without it).
"""
import re
import sys

def main(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    if "RUN RESULTS:" in text:
        text = text[text.rindex("RUN RESULTS:"):]  # the totals, not the per-configuration progress
    rows = []
    blocks = re.split(r"\n\s*\.{6,} \[(\w+)\] (\S+)\n", text)
    for i in range(1, len(blocks) - 2, 3):
        status, name, body = blocks[i], blocks[i + 1], blocks[i + 2]
        m = re.search(r"RESULT\s+SAMPLES\s+FREQ\s+EXPECT\s+DESCRIPTION\n(.*?)(?:\n\s*\n|\n\s*Messages|\n\s*\.{6}|\Z)", body, re.S)
        if not m:
            continue
        outcomes = []
        total = 0
        for line in m.group(1).splitlines():
            mm = re.match(r"\s*(.*?)\s+([\d,]+)\s+([\d.]+%|<0.01%)\s+(Acceptable|Forbidden|Interesting)\s+(.*)$", line)
            if not mm:
                continue
            n = int(mm.group(2).replace(",", ""))
            total += n
            if n:
                outcomes.append(f"`{mm.group(1)}` {n:,} ({mm.group(4)[0]})".replace("|", "\\|"))
        short = name.replace("dev.sluice.", "")
        rows.append((short, status, total, "; ".join(outcomes)))
    print("| test | result | samples | observed outcomes (A = acceptable, F = forbidden) |")
    print("|---|---|---:|---|")
    for short, status, total, outs in rows:
        print(f"| {short} | {status} | {total:,} | {outs} |")

if __name__ == "__main__":
    main(sys.argv[1])
