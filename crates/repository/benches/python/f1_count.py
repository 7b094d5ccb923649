"""Pairwise precision, recall and F1 of `rapport export identities` against a generated
world's truth, by counting pairs per (customer, person) cell: no set of pairs is built, so a
world of millions of records is scored in seconds (demo_f1.py builds the pairs).

Usage: python3 f1_count.py EXPORT.jsonl TRUTH.csv [SOURCE,SOURCE...]
With sources given, only those sources' truth records count (for a partial ingest)."""
import csv, json, sys
from collections import Counter
got = {}
for line in open(sys.argv[1]):
    if line.strip():
        d = json.loads(line); got[(d["source"], d["source_key"])] = d["customer_id"]
only = set(sys.argv[3].split(",")) if len(sys.argv) > 3 else None
truth = {}
for r in csv.DictReader(open(sys.argv[2])):
    if only and r["source"] not in only: continue
    truth[(r["source"], r["source_key"])] = r["entity_id"]
c2 = lambda n: n*(n-1)//2
cells = Counter(); clus = Counter(); ent = Counter()
for k, e in truth.items():
    ent[e] += 1
    if k in got:
        cells[(got[k], e)] += 1; clus[got[k]] += 1
tp = sum(c2(n) for n in cells.values()); pp = sum(c2(n) for n in clus.values()); tt = sum(c2(n) for n in ent.values())
p = tp/pp if pp else 0; r = tp/tt if tt else 0
print(f"records {len(truth)} found {sum(clus.values())} clusters {len(clus)} entities {len(ent)}")
print(f"precision {p:.4f} recall {r:.4f} F1 {2*p*r/(p+r) if p+r else 0:.4f}  (tp {tp} predicted {pp} true {tt})")
big = clus.most_common(5); print("largest clusters", big)
