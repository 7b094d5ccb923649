"""FEBRL data set 2 deduplication with the Python `recordlinkage` package (its typical script:
blocking passes, Jaro-Winkler / exact comparisons, ECM (unsupervised EM) classifier).
Usage: python febrl_recordlinkage.py DATASET2.csv [--ssn]
Prints load-to-prediction seconds and pairwise precision/recall/F1 (transitive closure of the
predicted links, as an identity export would give)."""
import sys, time
t_script = time.perf_counter()
import pandas as pd
import recordlinkage as rl
from recordlinkage.preprocessing import clean

path = sys.argv[1]
ssn = "--ssn" in sys.argv
t0 = time.perf_counter()
df = pd.read_csv(path, skipinitialspace=True, dtype=str).set_index("rec_id")
for c in ["given_name", "surname", "address_1", "address_2", "suburb"]:
    df[c] = clean(df[c].fillna(""))
idx = rl.Index()
idx.block("given_name"); idx.block("surname"); idx.block("date_of_birth"); idx.block("postcode")
pairs = idx.index(df)
cmp = rl.Compare()
cmp.string("given_name", "given_name", method="jarowinkler", threshold=0.85, label="given")
cmp.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
cmp.exact("date_of_birth", "date_of_birth", label="dob")
cmp.exact("street_number", "street_number", label="number")
cmp.string("address_1", "address_1", threshold=0.85, label="address")
cmp.string("suburb", "suburb", threshold=0.85, label="suburb")
cmp.exact("postcode", "postcode", label="postcode")
cmp.exact("state", "state", label="state")
if ssn:
    cmp.exact("soc_sec_id", "soc_sec_id", label="ssn")
features = cmp.compute(pairs, df)
ecm = rl.ECMClassifier(binarize=0.5)
links = ecm.fit_predict(features)
t1 = time.perf_counter()

# pairwise quality over the clusters the links make (union-find)
parent = {r: r for r in df.index}
def find(x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]; x = parent[x]
    return x
for a, b in links:
    parent[find(a)] = find(b)
from collections import defaultdict
from itertools import combinations
def pairset(key):
    g = defaultdict(list)
    for r in df.index: g[key(r)].append(r)
    return {tuple(sorted(p)) for m in g.values() for p in combinations(m, 2)}
T = pairset(lambda r: r.split("-")[1]); P = pairset(find)
tp = len(T & P); p = tp / len(P) if P else 0; r = tp / len(T)
f1 = 2 * p * r / (p + r) if p + r else 0
print(f"recordlinkage ssn={ssn}: candidate pairs {len(pairs)}, load-to-prediction {t1 - t0:.2f} s, "
      f"precision {p:.4f} recall {r:.4f} f1 {f1:.4f}, script {time.perf_counter() - t_script:.2f} s")
