"""Measured figures, their floors and targets, and how a target is judged."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from enum import StrEnum


def percentile(values: list[float], fraction: float) -> float:
    """Return the value below which `fraction` of the values lie, interpolating between ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


class Rule(StrEnum):
    """Comparison of a figure with its target."""

    AT_MOST = "at_most"  # figure <= limit
    AT_LEAST = "at_least"  # figure >= limit
    RATIO_AT_MOST = "ratio_at_most"  # figure / floor <= limit
    RATIO_AT_LEAST = "ratio_at_least"  # figure / floor >= limit
    SPEEDUP_AT_LEAST = "speedup_at_least"  # floor / figure >= limit
    FLOOR_PLUS_AT_MOST = "floor_plus_at_most"  # figure <= floor + limit


@dataclass(frozen=True)
class Target:
    rule: Rule
    limit: float
    text: str
    # Tiers the target is set for; on other tiers the figure is reported for information.
    tiers: tuple[str, ...] = ("demo", "retail", "large")


@dataclass
class Sample:
    """One repetition: the figure, its floor, and the absolute figures shown beside them."""

    figure: float
    floor: float = math.nan
    details: dict[str, float] = field(default_factory=dict)


@dataclass
class Measure:
    """A measure on one tier and engine, over all repetitions."""

    key: str
    title: str
    unit: str
    figure_label: str
    floor_label: str
    target: Target | None
    tier: str
    engine: str
    samples: list[Sample] = field(default_factory=list)
    note: str = ""
    error: str = ""

    def figures(self) -> list[float]:
        return [sample.figure for sample in self.samples]

    def floors(self) -> list[float]:
        return [sample.floor for sample in self.samples if not math.isnan(sample.floor)]

    def ratios(self) -> list[float]:
        """Return the figure-to-floor ratio of each repetition, in the direction the target reads."""
        values = []
        for sample in self.samples:
            if math.isnan(sample.floor) or sample.floor == 0 or sample.figure == 0:
                continue
            if self.target is not None and self.target.rule is Rule.SPEEDUP_AT_LEAST:
                values.append(sample.floor / sample.figure)
            else:
                values.append(sample.figure / sample.floor)
        return values

    def applies(self) -> bool:
        return self.target is not None and self.tier in self.target.tiers

    def met(self) -> bool | None:
        """Judge the target on the median repetition; None when no target applies or nothing was measured."""
        if not self.applies() or not self.samples:
            return None
        assert self.target is not None
        figure = statistics.median(self.figures())
        floors = self.floors()
        floor = statistics.median(floors) if floors else math.nan
        ratios = self.ratios()
        ratio = statistics.median(ratios) if ratios else math.nan
        rule, limit = self.target.rule, self.target.limit
        if rule is Rule.AT_MOST:
            return figure <= limit
        if rule is Rule.AT_LEAST:
            return figure >= limit
        if rule is Rule.FLOOR_PLUS_AT_MOST:
            return figure <= floor + limit
        if math.isnan(ratio):
            return None
        if rule is Rule.RATIO_AT_MOST:
            return ratio <= limit
        return ratio >= limit
