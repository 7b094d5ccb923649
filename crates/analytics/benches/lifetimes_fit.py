import sys, time
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
df = pd.read_csv(sys.argv[1])
t0 = time.perf_counter()
bg = BetaGeoFitter(penalizer_coef=0.0).fit(df['frequency'], df['recency'], df['T'])
t1 = time.perf_counter()
rep = df[df['frequency'] > 0]
gg = GammaGammaFitter(penalizer_coef=0.0).fit(rep['frequency'], rep['monetary_value'])
t2 = time.perf_counter()
print("BG/NBD", {k: round(float(v), 4) for k, v in bg.params_.items()}, "fit %.1f ms" % ((t1 - t0) * 1000))
print("Gamma-Gamma", {k: round(float(v), 4) for k, v in gg.params_.items()}, "fit %.1f ms" % ((t2 - t1) * 1000))
