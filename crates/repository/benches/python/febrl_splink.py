"""FEBRL data set 2 deduplication with the Python `splink` package (DuckDB backend; its
typical script: blocking rules, Jaro-Winkler / exact comparisons, u by random sampling, m by
EM, predict, cluster at 0.9). Usage: python febrl_splink.py DATASET2.csv [--ssn]"""
import sys, time
t_script = time.perf_counter()
import pandas as pd
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

path = sys.argv[1]
ssn = "--ssn" in sys.argv
t0 = time.perf_counter()
df = pd.read_csv(path, skipinitialspace=True, dtype=str).rename(columns={"rec_id": "unique_id"})
comparisons = [
    cl.JaroWinklerAtThresholds("given_name", [0.9, 0.7]),
    cl.JaroWinklerAtThresholds("surname", [0.9, 0.7]),
    cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
    cl.ExactMatch("street_number"),
    cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
    cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
    cl.ExactMatch("postcode"),
    cl.ExactMatch("state"),
]
if ssn:
    comparisons.append(cl.ExactMatch("soc_sec_id"))
settings = SettingsCreator(
    link_type="dedupe_only",
    blocking_rules_to_generate_predictions=[
        block_on("given_name"), block_on("surname"), block_on("date_of_birth"), block_on("postcode"),
    ],
    comparisons=comparisons,
    retain_intermediate_calculation_columns=False,
)
db_api = DuckDBAPI()
sdf = db_api.register(df)
linker = Linker(sdf, settings)
linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
pred = linker.inference.predict(threshold_match_probability=0.5)
clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, 0.9).as_pandas_dataframe()
t1 = time.perf_counter()
from collections import defaultdict
from itertools import combinations
got = dict(zip(clusters["unique_id"], clusters["cluster_id"]))
def pairset(key):
    g = defaultdict(list)
    for r in df["unique_id"]: g[key(r)].append(r)
    return {tuple(sorted(p)) for m in g.values() for p in combinations(m, 2)}
T = pairset(lambda r: r.split("-")[1]); P = pairset(lambda r: got.get(r, r))
tp = len(T & P); p = tp / len(P) if P else 0; r = tp / len(T)
f1 = 2 * p * r / (p + r) if p + r else 0
print(f"splink ssn={ssn}: load-to-prediction {t1 - t0:.2f} s, precision {p:.4f} recall {r:.4f} f1 {f1:.4f}, "
      f"script {time.perf_counter() - t_script:.2f} s")
