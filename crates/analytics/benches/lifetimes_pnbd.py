"""Pareto/NBD on the full CDNOW cohort with Python `lifetimes`, for docs/benchmarks.md.

usage: python lifetimes_pnbd.py CDNOW_master.txt OUT_SUMMARY.csv
Builds the 39-week calibration summary (weeks; calibration ends 1997-09-30) of the 23,570
customers, writes it as `frequency,recency,T` for `rapport clv fit --summary`, then fits
lifetimes' ParetoNBDFitter on it and prints the estimates and the fit time.
"""
import sys, time
import pandas as pd
from lifetimes import ParetoNBDFitter
from lifetimes.utils import summary_data_from_transaction_data

raw = pd.read_csv(sys.argv[1], sep=r"\s+", header=0,
                  names=["customer", "date", "cds", "amount"], dtype={"date": str})
raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
cal = raw[raw["date"] <= "1997-09-30"]
s = summary_data_from_transaction_data(cal, "customer", "date", freq="D",
                                       observation_period_end="1997-09-30")
s = s / 7.0  # weeks, as the published summary
s["frequency"] = s["frequency"] * 7.0
s[["frequency", "recency", "T"]].to_csv(sys.argv[2], index=False)
t0 = time.perf_counter()
pn = ParetoNBDFitter(penalizer_coef=0.0).fit(s["frequency"], s["recency"], s["T"])
t1 = time.perf_counter()
print("customers", len(s), "repeaters", int((s["frequency"] > 0).sum()))
print("Pareto/NBD", {k: round(float(v), 4) for k, v in pn.params_.items()},
      "fit %.2f s" % (t1 - t0))
