"""bench/replicate/stats.py: Student-t CDF and Welch's t-test against closed forms and known values, and
against scipy when the python running this has it (the corruptions venv does; the torch venv does not).
Usage: PYTHONPATH=REPO python test_replicate_stats.py [PYTHON_WITH_SCIPY]   (the test's registration,
tests/bench/tests.cmake, sets PYTHONPATH to the repository root)"""
import math
import os
import random
import subprocess
import sys

from bench.replicate import stats

# The continued fraction converges to ~1e-15 relative; 1e-10 absolute on probabilities leaves room for the
# lgamma / log1p roundings of extreme df (the worst seen against scipy over 2000 random draws: 1e-11).
CDF_TOL = 1e-10
fails = 0


def check(name, got, want, tol=CDF_TOL):
    global fails
    ok = got is not None and abs(got - want) <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {got!r} vs {want!r}")
    fails += not ok


# Closed forms: df = 1 is the Cauchy distribution, df = 2 has F(t) = 1/2 + t / (2 sqrt(2 + t^2)), df -> inf the
# normal.
for t in (-30.0, -3.0, -1.0, -0.2, 0.0, 0.5, 1.0, 2.5, 12.0):
    check(f"cdf(t={t}, df=1)", stats.student_t_cdf(t, 1), 0.5 + math.atan(t) / math.pi)
    check(f"cdf(t={t}, df=2)", stats.student_t_cdf(t, 2), 0.5 + t / (2 * math.sqrt(2 + t * t)))
    # t(1e6) differs from the normal by about phi(t) (t^3 + t) / (4 df) < 1e-6 (and lgamma's cancellation at
    # a = 5e5 costs ~1e-9), so 1e-6.
    check(f"cdf(t={t}, df=1e6) ~ normal", stats.student_t_cdf(t, 1e6), 0.5 * (1 + math.erf(t / math.sqrt(2))), 1e-6)
# Table values: the two-sided 5% critical value of t with 10 degrees of freedom is 2.228139 (any t table).
check("2-sided p at t=2.228139, df=10", 2 * stats.student_t_cdf(-2.228139, 10), 0.05, 1e-6)
check("2-sided p at t=2.570582, df=5", 2 * stats.student_t_cdf(-2.570582, 5), 0.05, 1e-6)

# Welch by hand: a = [1, 2, 3, 4] (mean 2.5, var 5/3), b = [2, 4, 6] (mean 4, var 4): se^2 = 5/12 + 4/3 = 21/12,
# t = -1.5 / sqrt(21/12), df = (21/12)^2 / ((5/12)^2 / 3 + (4/3)^2 / 2).
w = stats.welch_t_test([1, 2, 3, 4], [2, 4, 6])
t_hand = -1.5 / math.sqrt(21 / 12)
df_hand = (21 / 12) ** 2 / ((5 / 12) ** 2 / 3 + (4 / 3) ** 2 / 2)
check("welch t", w["t"], t_hand, 1e-12)
check("welch df", w["df"], df_hand, 1e-12)
check("welch p = 2 F(-|t|)", w["p"], 2 * stats.student_t_cdf(-abs(t_hand), df_hand), 1e-15)
check("welch diff", w["diff"], -1.5, 1e-15)
check("no spread, equal means: p", stats.welch_t_test([0.5, 0.5], [0.5, 0.5])["p"], 1.0, 0)
check("no spread, other means: p", stats.welch_t_test([0.5, 0.5], [0.4, 0.4])["p"], 0.0, 0)
check("sample std", stats.std([1, 2, 3, 4]), math.sqrt(5 / 3), 1e-15)
try:
    stats.welch_t_test([1.0], [1.0, 2.0])
    print("FAIL welch with one value: no error")
    fails += 1
except ValueError as e:
    print("ok   welch with one value:", e)

# scipy, when a python with it is given: random t, df and samples.
scipy_python = sys.argv[1] if len(sys.argv) > 1 else ""
if scipy_python and os.path.exists(scipy_python):
    rng = random.Random(13)
    ts = [(rng.uniform(-8, 8), rng.choice([0.5, 1.3, 2, 3, 7.5, 30, 200])) for _ in range(200)]
    samples = [([rng.gauss(0.8, 0.02) for _ in range(rng.randint(2, 5))],
                [rng.gauss(0.79, 0.03) for _ in range(rng.randint(2, 5))]) for _ in range(50)]
    code = ("import json, sys, scipy.stats as S; d = json.load(sys.stdin); "
            "print(json.dumps([[float(S.t.cdf(t, df)) for t, df in d['ts']], "
            "[float(S.ttest_ind(a, b, equal_var=False).pvalue) for a, b in d['samples']]]))")
    import json
    out = subprocess.run([scipy_python, "-c", code], input=json.dumps({"ts": ts, "samples": samples}),
                         capture_output=True, text=True)
    if out.returncode != 0:
        print("skip scipy comparison:", out.stderr.strip().splitlines()[-1:])
    else:
        cdfs, ps = json.loads(out.stdout)
        err_cdf = max(abs(stats.student_t_cdf(t, df) - c) for (t, df), c in zip(ts, cdfs))
        err_p = max(abs(stats.welch_t_test(a, b)["p"] - p) for (a, b), p in zip(samples, ps))
        check("max |cdf - scipy| over 200 draws", err_cdf, 0.0)
        check("max |welch p - scipy ttest_ind(equal_var=False)| over 50 draws", err_p, 0.0)
else:
    print("skip scipy comparison: no python with scipy given")

print("all stats checks passed" if fails == 0 else f"{fails} checks failed")
sys.exit(1 if fails else 0)
