"""A small daily sales pipeline: extract -> transform -> aggregate over a date range.

    python manage.py runworker --module examples.daily DailyReport --date 2026-11-21 --days 7

``DailyReport(date, days)`` is a WrapperTask over one ``Aggregate`` of the
``days`` days ending at ``date``. ``Aggregate`` needs a ``Transform`` per day,
which needs that day's ``Extract``. Files go under the data directory
(``PIPELINES_DATA_DIR``, default ``var/data``); the aggregate's completion is
recorded in the database (a :class:`~workers.DatabaseTarget`), next to its CSV.
"""

from __future__ import annotations

import csv
import datetime
import os
import random
from collections import defaultdict
from pathlib import Path

from workers import (
    DatabaseTarget,
    DateIntervalParameter,
    DateParameter,
    IntParameter,
    LocalTarget,
    Task,
    WrapperTask,
)
from workers.date_interval import Custom

PRODUCTS = ("apples", "pears", "plums", "cherries")
STORES = ("north", "south", "east")


def data_dir() -> Path:
    """``PIPELINES_DATA_DIR``, or ``var/data`` next to manage.py."""
    configured = os.environ.get("PIPELINES_DATA_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "var" / "data"


class Extract(Task):
    """The day's raw sales lines, as a point-of-sale export would give them."""

    date = DateParameter()

    def output(self) -> LocalTarget:
        return LocalTarget(data_dir() / "raw" / f"sales-{self.date:%Y-%m-%d}.csv")

    def run(self) -> None:
        rng = random.Random(self.date.toordinal())
        with self.output().open("w") as out:
            writer = csv.writer(out)
            writer.writerow(["store", "product", "quantity", "unit_price"])
            for _ in range(rng.randint(40, 80)):
                quantity = rng.choice([1, 2, 3, 5, -1])  # -1: a returned item
                price = round(rng.uniform(0.5, 4.0), 2)
                writer.writerow([rng.choice(STORES), rng.choice(PRODUCTS), quantity, price])


class Transform(Task):
    """Revenue per product for the day; returns are dropped."""

    date = DateParameter()

    def requires(self) -> Extract:
        return Extract(date=self.date)

    def output(self) -> LocalTarget:
        return LocalTarget(data_dir() / "clean" / f"revenue-{self.date:%Y-%m-%d}.csv")

    def run(self) -> None:
        revenue: dict[str, float] = defaultdict(float)
        with self.input().open() as raw:
            for row in csv.DictReader(raw):
                quantity = int(row["quantity"])
                if quantity > 0:
                    revenue[row["product"]] += quantity * float(row["unit_price"])
        with self.output().open("w") as out:
            writer = csv.writer(out)
            writer.writerow(["date", "product", "revenue"])
            for product in sorted(revenue):
                writer.writerow([f"{self.date:%Y-%m-%d}", product, f"{revenue[product]:.2f}"])


class Aggregate(Task):
    """Revenue per product over the interval; done when recorded in the database."""

    date_interval = DateIntervalParameter()

    def requires(self) -> list[Transform]:
        return [Transform(date=day) for day in self.date_interval.dates()]

    def output(self) -> DatabaseTarget:
        return DatabaseTarget(self.task_id, table="examples_daily_report")

    def report_path(self) -> Path:
        return data_dir() / "reports" / f"report-{self.date_interval}.csv"

    def run(self) -> None:
        totals: dict[str, float] = defaultdict(float)
        for target in self.input():
            with target.open() as day:
                for row in csv.DictReader(day):
                    totals[row["product"]] += float(row["revenue"])
        with LocalTarget(self.report_path()).open("w") as out:
            writer = csv.writer(out)
            writer.writerow(["product", "revenue"])
            for product, amount in sorted(totals.items(), key=lambda item: -item[1]):
                writer.writerow([product, f"{amount:.2f}"])
        self.set_status_message(f"{len(totals)} products, {sum(totals.values()):.2f} total")
        self.output().touch()


class DailyReport(WrapperTask):
    """The report for the ``days`` days ending at ``date`` (inclusive)."""

    date = DateParameter()
    days = IntParameter(default=7)

    def requires(self) -> Aggregate:
        start = self.date - datetime.timedelta(days=self.days - 1)
        return Aggregate(date_interval=Custom(start, self.date + datetime.timedelta(days=1)))
