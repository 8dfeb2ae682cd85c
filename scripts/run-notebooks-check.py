#!/usr/bin/env python3
"""run-notebooks-check.py inspects notebooks executed by scripts/run-notebooks.sh.

Usage: run-notebooks-check.py EXECUTED.ipynb...
       run-notebooks-check.py --metrics A/metrics.csv B/metrics.csv

A notebook fails when a code cell did not run, when a cell has an error
output, when an output shows a Go build or run failure (a panic, "exit
status", "Error:"), or when it shows fewer pictures than its lesson needs
(EXPECTED below; at least one for a notebook not listed). Prints one line per
notebook and exits 1 if any failed.

With --metrics it compares two training runs' metrics.csv files instead:
same rows, and every column but the elapsed time equal to 4 decimals.
"""
import csv
import json
import os
import re
import sys

# Pictures each notebook must show: PNG images, and HTML outputs embedding a
# picture (live plots, growth animations) counted per image type.
EXPECTED = {
    "01_isic_data": {"png": 4},
    "02_how_an_nca_segments": {"png": 5, "html gif": 1},
    "03_training": {"png": 1, "html png": 2},
    "04_evaluation": {"png": 3},
}

# Text that only appears when a cell's Go program failed to build or run.
FAILURE_MARKS = ["panic:", "exit status", "Error:"]

HTML_IMAGE = re.compile(r"data:image/(png|gif);base64,")


def text_of(value):
    return "".join(value) if isinstance(value, list) else str(value)


def check(path):
    """Returns the problems of one executed notebook and its picture counts."""
    nb = json.load(open(path, encoding="utf-8"))
    problems, counts = [], {}
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for n, cell in enumerate(nb["cells"], 1):
        if cell["cell_type"] != "code":
            continue
        first = text_of(cell["source"]).strip().splitlines()[:1]
        where = "cell %d (%s)" % (n, first[0][:50] if first else "empty")
        if cell.get("execution_count") is None:
            problems.append("%s did not run" % where)
        for out in cell.get("outputs", []):
            kind = out["output_type"]
            if kind == "error":
                problems.append("%s failed: %s: %s" % (where, out.get("ename"),
                                                       text_of(out.get("evalue", ""))[:2000]))
                continue
            texts = [text_of(out.get("text", ""))]
            data = out.get("data", {})
            texts.append(text_of(data.get("text/plain", "")))
            if "image/png" in data:
                counts["png"] = counts.get("png", 0) + 1
            if "text/html" in data:
                html = text_of(data["text/html"])
                for m in HTML_IMAGE.finditer(html):
                    key = "html " + m.group(1)
                    counts[key] = counts.get(key, 0) + 1
            for text in texts:
                for mark in FAILURE_MARKS:
                    if mark in text:
                        line = next(l for l in text.splitlines() if mark in l)
                        problems.append("%s printed %r: %s" % (where, mark, line.strip()[:300]))
    if not code_cells:
        problems.append("no code cells")
    name = os.path.splitext(os.path.basename(path))[0]
    for key, want in EXPECTED.get(name, {"": 1}).items():
        got = counts.get(key, 0) if key else sum(counts.values())
        if got < want:
            problems.append("shows %d %spicture(s), expected at least %d" % (
                got, key + " " if key else "", want))
    return problems, counts


def compare_metrics(a, b):
    """Returns 0 when two metrics.csv files agree to 4 decimals, else 1."""
    def rows(path):
        with open(path, newline="", encoding="utf-8") as f:
            return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in csv.DictReader(f)]

    def rounded(value):
        try:
            return "%.4f" % float(value)
        except ValueError:
            return value

    ra, rb = rows(a), rows(b)
    if not ra:
        print("FAIL %s has no rows" % a)
        return 1
    if len(ra) != len(rb):
        print("FAIL %s has %d rows, %s has %d" % (a, len(ra), b, len(rb)))
        return 1
    for n, (x, y) in enumerate(zip(ra, rb), 1):
        diff = [k for k in x if rounded(x[k]) != rounded(y.get(k, ""))]
        if diff:
            print("FAIL row %d differs in %s:\n  %s: %s\n  %s: %s" % (
                n, ", ".join(diff), a, x, b, y))
            return 1
    last = ra[-1]
    print("ok   %d epochs match; last: val_dice %s, val_loss %s" % (
        len(ra), rounded(last.get("val_dice", "")), rounded(last.get("val_loss", ""))))
    return 0


def main(paths):
    if not paths:
        sys.exit("usage: run-notebooks-check.py EXECUTED.ipynb...")
    failed = 0
    for path in paths:
        try:
            problems, counts = check(path)
        except (OSError, ValueError, KeyError) as err:
            problems, counts = ["cannot read the executed notebook: %s" % err], {}
        shown = ", ".join("%d %s" % (v, k) for k, v in sorted(counts.items())) or "no pictures"
        if problems:
            failed += 1
            print("FAIL %s (%s):" % (path, shown))
            for p in problems:
                print("  - " + p.replace("\n", "\n    "))
        else:
            print("ok   %s (%s)" % (path, shown))
    if failed:
        print("%d of %d notebooks failed the output check" % (failed, len(paths)))
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--metrics"]:
        if len(sys.argv) != 4:
            sys.exit("usage: run-notebooks-check.py --metrics A/metrics.csv B/metrics.csv")
        sys.exit(compare_metrics(sys.argv[2], sys.argv[3]))
    sys.exit(main(sys.argv[1:]))
