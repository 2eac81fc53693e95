"""The tables `make bench-quality` adopts, built offline and shaped like public tables we keep
unnamed. Run by the generated project's Python (numpy, pandas, scikit-learn):

    python benchmarks/quality_tables.py NAME PATH    # writes the CSV, prints the target column
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import pandas as pd


def prices(rng: np.random.Generator) -> tuple[pd.DataFrame, str]:
    """50k rows, a skewed positive price driven by size, three string grades and their
    interactions (regression, RMSE)."""
    n = 50_000
    carat = np.round(rng.gamma(2.0, 0.4, n) + 0.2, 2)
    cut = rng.choice(
        ["Fair", "Good", "Very Good", "Premium", "Ideal"], n, p=[0.03, 0.09, 0.22, 0.26, 0.4]
    )
    color = rng.choice(list("DEFGHIJ"), n)
    clarity = rng.choice(["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"], n)
    depth = np.round(rng.normal(61.7, 1.4, n), 1)
    table = np.round(rng.normal(57.4, 2.2, n), 0)
    grade = (
        pd.Series(cut).map({"Fair": 0, "Good": 1, "Very Good": 2, "Premium": 3, "Ideal": 4}) * 0.04
        + pd.Series(color).map({c: 6 - i for i, c in enumerate("DEFGHIJ")}) * 0.07
        + pd.Series(clarity).map(
            {c: i for i, c in enumerate(["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"])}
        )
        * 0.09
    ).to_numpy()
    log_price = 7.8 + 1.7 * np.log(carat) + grade * np.minimum(carat, 1.5)
    log_price -= 0.02 * np.abs(depth - 61.7) ** 1.5
    price = np.round(np.exp(log_price + rng.normal(0, 0.12, n)), 0)
    frame = pd.DataFrame(
        {
            "carat": carat,
            "cut": cut,
            "color": color,
            "clarity": clarity,
            "depth": depth,
            "table": table,
            "price": price,
        }
    )
    return frame, "price"


def weather(rng: np.random.Generator) -> tuple[pd.DataFrame, str]:
    """20k days, five string classes from thresholds on rain, temperature and wind
    (multiclass, macro F1)."""
    n = 20_000
    month = rng.integers(1, 13, n)
    season = np.cos((month - 1) / 12 * 2 * np.pi)
    temp_max = np.round(15 - 9 * season + rng.normal(0, 4, n), 1)
    temp_min = np.round(temp_max - rng.gamma(3, 2, n), 1)
    precipitation = np.round(rng.exponential(2.0, n) * (rng.random(n) < 0.45), 1)
    wind = np.round(rng.gamma(2.5, 1.4, n), 1)
    station = rng.choice(["coast", "hills", "city"], n)
    humid = np.where(station == "coast", 1.0, 0.0) + rng.normal(0, 0.6, n)
    label = np.where(
        precipitation > 2.5,
        np.where(temp_max < 2.0, "snow", "rain"),
        np.where(
            precipitation > 0.3,
            "drizzle",
            np.where((humid > 0.8) & (wind < 3.0), "fog", "sun"),
        ),
    )
    flip = rng.random(n) < 0.12
    label[flip] = rng.choice(["drizzle", "rain", "sun", "snow", "fog"], int(flip.sum()))
    frame = pd.DataFrame(
        {
            "month": month,
            "temp_max": temp_max,
            "temp_min": temp_min,
            "precipitation": precipitation,
            "wind": wind,
            "station": station,
            "weather": label,
        }
    )
    return frame, "weather"


def bills(rng: np.random.Generator) -> tuple[pd.DataFrame, str]:
    """10k restaurant bills; whether the tip was generous depends weakly on them (binary,
    ROC AUC)."""
    n = 10_000
    size = rng.choice([1, 2, 2, 2, 3, 4, 4, 5, 6], n)
    total = np.round(rng.gamma(4.0, 2.0 + size, n), 2)
    day = rng.choice(["Thur", "Fri", "Sat", "Sun"], n)
    time_of_day = np.where(rng.random(n) < 0.7, "Dinner", "Lunch")
    smoker = rng.choice(["Yes", "No"], n, p=[0.38, 0.62])
    logit = -0.2 + 0.25 * (smoker == "No") + 0.3 * (day == "Sat") * (size > 2) - 0.02 * total
    generous = rng.random(n) < 1 / (1 + np.exp(-(logit + rng.normal(0, 1.2, n))))
    frame = pd.DataFrame(
        {
            "total_bill": total,
            "size": size,
            "day": day,
            "time": time_of_day,
            "smoker": smoker,
            "generous": np.where(generous, "yes", "no"),
        }
    )
    return frame, "generous"


def survey(rng: np.random.Generator) -> tuple[pd.DataFrame, str]:
    """5k survey answers; a count with a weak signal (regression, RMSE)."""
    n = 5_000
    age = rng.integers(18, 80, n)
    income = np.round(rng.lognormal(10.3, 0.5, n), -2)
    region = rng.choice(["north", "south", "east", "west"], n)
    rate = np.exp(
        0.3 + 0.004 * (age - 45) + 0.15 * (region == "south") + 0.1 * np.log(income / 3e4)
    )
    frame = pd.DataFrame(
        {"age": age, "income": income, "region": region, "visits": rng.poisson(rate)}
    )
    return frame, "visits"


def digits(rng: np.random.Generator) -> tuple[pd.DataFrame, str]:
    """scikit-learn's bundled 8x8 digits: 64 pixel columns, ten classes (multiclass)."""
    from sklearn.datasets import load_digits

    data = load_digits(as_frame=True).frame
    return data.rename(columns={"target": "digit"}), "digit"


TABLES: dict[str, Callable[[np.random.Generator], tuple[pd.DataFrame, str]]] = {
    "prices": prices,
    "weather": weather,
    "bills": bills,
    "survey": survey,
    "digits": digits,
}


def main() -> int:
    name, path = sys.argv[1], sys.argv[2]
    frame, target = TABLES[name](np.random.default_rng(7))
    frame.to_csv(path, index=False)
    print(target, len(frame))
    return 0


if __name__ == "__main__":
    sys.exit(main())
