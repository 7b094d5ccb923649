#!/usr/bin/env python3
"""Split a generated world into a day's load and a night's files, for the #23 benchmarks.

    split_night.py WORLD DAY NIGHT [--every 100] [--offset 0] [--mappings fixtures/demo/mappings]

Every EVERY-th data record (those whose index is OFFSET modulo EVERY: several nights with
different offsets are disjoint) of every source (CSV and JSONL) is held back into NIGHT, the
others go to DAY; the header stays in both. Records are split on their raw bytes, so a
quoted line break inside a CSV field stays inside its record (a record ends where the
count of double quotes seen is even) and nothing is re-encoded. The rates file is copied to
both, and each gets an `ingest.toml` naming the demo mappings by absolute path, so

    rapport --db DB ingest DAY/ingest.toml
    rapport --db DB ingest NIGHT/ingest.toml

load the whole world in two runs (day rows + night rows = the world's rows).
"""

import argparse
import os
import shutil


def records(path):
    """Yields the raw records of a CSV or JSONL file, header first."""
    csv = path.endswith(".csv")
    pending = b""
    with open(path, "rb") as f:
        for line in f:
            pending += line
            if csv and pending.count(b'"') % 2 == 1:
                continue
            yield pending
            pending = b""
    if pending:
        yield pending


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("world")
    ap.add_argument("day")
    ap.add_argument("night")
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--offset", type=int, default=0)
    here = os.path.dirname(os.path.abspath(__file__))
    default_mappings = os.path.normpath(os.path.join(here, "../../../../fixtures/demo/mappings"))
    ap.add_argument("--mappings", default=default_mappings)
    a = ap.parse_args()
    manifest = os.path.join(a.mappings, "..", "ingest.toml")
    mappings = os.path.abspath(a.mappings)
    for out in (a.day, a.night):
        os.makedirs(out, exist_ok=True)
        with open(manifest) as f:
            text = f.read().replace('"mappings/', '"' + mappings + "/")
        with open(os.path.join(out, "ingest.toml"), "w") as f:
            f.write(text)
        shutil.copy(os.path.join(a.world, "rates.csv"), out)
    totals = {}
    for name in sorted(os.listdir(a.world)):
        if not (name.endswith(".csv") or name.endswith(".jsonl")) or name == "rates.csv":
            continue
        day = open(os.path.join(a.day, name), "wb")
        night = open(os.path.join(a.night, name), "wb")
        n = [0, 0]
        for i, rec in enumerate(records(os.path.join(a.world, name))):
            if i == 0 and name.endswith(".csv"):
                day.write(rec)
                night.write(rec)
                continue
            if i % a.every == a.offset % a.every:
                night.write(rec)
                n[1] += 1
            else:
                day.write(rec)
                n[0] += 1
        day.close()
        night.close()
        totals[name] = n
        print(f"{name:20} day {n[0]:>10,} night {n[1]:>8,}")
    print(f"{'all':20} day {sum(n[0] for n in totals.values()):>10,} "
          f"night {sum(n[1] for n in totals.values()):>8,}")


if __name__ == "__main__":
    main()
