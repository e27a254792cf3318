"""Statistics for the replication tables, standard library only (the torch venv has no scipy):
mean and sample standard deviation, the Student-t distribution's CDF through the regularized incomplete beta
function (continued fraction, Numerical Recipes' betacf / Lentz), and Welch's unequal-variance t-test.
Checked against known values and, where available, scipy (tests/bench/test_replicate_stats.py)."""
import math

# Continued-fraction evaluation of the incomplete beta function: stop when a factor changes the value by less
# than this relative amount (double precision has ~16 digits; 3e-16 leaves a rounding step of slack).
_BETACF_EPS = 3e-16
# Lentz's method replaces a zero denominator by this tiny value (as Numerical Recipes' FPMIN).
_BETACF_TINY = 1e-300
# More iterations than the fraction needs for any a, b of a t-test (converges in O(sqrt(max(a, b))) steps).
_BETACF_MAX_ITER = 10000


def mean(xs):
    return sum(xs) / len(xs)


def std(xs):
    """Sample standard deviation (n - 1 in the denominator); 0 for a single value."""
    if len(xs) < 2:
        return 0.0
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _betacf(a, b, x):
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _BETACF_TINY else _BETACF_TINY)
    h = d
    for m in range(1, _BETACF_MAX_ITER + 1):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > _BETACF_TINY else _BETACF_TINY)
            c = 1.0 + aa / c
            if abs(c) < _BETACF_TINY:
                c = _BETACF_TINY
            h *= d * c
        if abs(d * c - 1.0) < _BETACF_EPS:
            return h
    raise ArithmeticError(f"incomplete beta: no convergence for a={a}, b={b}, x={x}")


def betainc(a, b, x):
    """Regularized incomplete beta function I_x(a, b) for a, b > 0, 0 <= x <= 1."""
    if not (a > 0 and b > 0 and 0.0 <= x <= 1.0):
        raise ValueError(f"betainc: need a, b > 0 and 0 <= x <= 1, got a={a}, b={b}, x={x}")
    if x == 0.0 or x == 1.0:
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    # The continued fraction converges fast for x < (a + 1) / (a + b + 2); else use the symmetry I_x(a,b) = 1 - I_{1-x}(b,a).
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(t, df):
    """P(T <= t) for Student's t with df > 0 degrees of freedom (df need not be an integer). Accurate to ~1e-11
    for the df of a t-test; above df ~ 1e6 lgamma's cancellation costs digits (1e-9 at 1e6, 1e-7 at 1e9)."""
    if not df > 0:
        raise ValueError(f"student_t_cdf: df must be > 0, got {df}")
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))  # P(T > |t|)
    return 1.0 - tail if t > 0 else tail


def welch_t_test(a, b):
    """Welch's two-sided t-test of mean(a) == mean(b) without assuming equal variances.
    Returns {"diff": mean(a) - mean(b), "t", "df", "p"}. Needs >= 2 values on each side (else ValueError).
    When both samples have zero variance the test has no scale: p = 1 if the means are equal, else 0 (the limit
    of any vanishing spread), with t and df None."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"welch_t_test: needs >= 2 values per group, got {len(a)} and {len(b)}")
    diff = mean(a) - mean(b)
    va, vb = std(a) ** 2 / len(a), std(b) ** 2 / len(b)
    if va + vb == 0.0:
        return {"diff": diff, "t": None, "df": None, "p": 1.0 if diff == 0.0 else 0.0}
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    p = 2.0 * student_t_cdf(-abs(t), df)
    return {"diff": diff, "t": t, "df": df, "p": min(1.0, p)}
