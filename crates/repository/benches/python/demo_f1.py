"""Pairwise precision/recall/F1 of `rapport export identities` against the demo world's
ground truth (fixtures/demo/truth/identities.csv).

Usage: python3 demo_f1.py EXPORT.jsonl [TRUTH.csv] [--errors N]
Records in the truth but missing from the export (quarantined rows' records) count as
unresolved singletons; records in the export but not in the truth are ignored."""
import csv, json, sys
from collections import defaultdict
from itertools import combinations

args = [a for a in sys.argv[1:] if not a.startswith("--")]
show = int(sys.argv[sys.argv.index("--errors") + 1]) if "--errors" in sys.argv else 0
export = args[0]
truth_path = args[1] if len(args) > 1 and args[1].endswith(".csv") else "fixtures/demo/truth/identities.csv"
got = {}
for line in open(export, encoding="utf-8"):
    if line.strip():
        d = json.loads(line)
        got[(d["source"], d["source_key"])] = d["customer_id"]
truth = {}
for r in csv.DictReader(open(truth_path, encoding="utf-8")):
    truth[(r["source"], r["source_key"])] = r["entity_id"]

def pairs(assign):
    groups = defaultdict(list)
    for k, g in assign.items():
        groups[g].append(k)
    s = set()
    for members in groups.values():
        for a, b in combinations(sorted(members), 2):
            s.add((a, b))
    return s

found = {k: v for k, v in got.items() if k in truth}
missing = [k for k in truth if k not in got]
T = pairs(truth)
P = pairs(found)
tp = len(T & P)
p = tp / len(P) if P else 0.0
r = tp / len(T) if T else 0.0
f1 = 2 * p * r / (p + r) if p + r else 0.0
print(f"precision {p:.4f} recall {r:.4f} f1 {f1:.4f} records {len(truth)} exported {len(found)} missing {len(missing)} true_pairs {len(T)}")
if show:
    fp = sorted(P - T)[:show]
    fn = sorted(T - P)[:show]
    print("false merges:")
    for a, b in fp:
        print("  ", a, truth[a], "|", b, truth[b])
    print("missed:")
    for a, b in fn:
        print("  ", a, got.get(a), "|", b, got.get(b))
