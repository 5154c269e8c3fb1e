"""Series updated on every reconcile and every queue operation, at the cost of an attribute update.

prometheus_client's ``Counter``/``Gauge``/``Histogram`` take a lock, check their state and look up
the labels' child on every call: a fifth of a no-op reconcile's CPU (issue 16). These vectors keep
plain numbers in children bound once per label set, updated from the event loop only, and a
collector turns them into the very families and samples prometheus_client's own would give
(``_total`` and ``_created`` of counters, cumulative ``_bucket``, ``_count``, ``_sum`` and
``_created`` of histograms), at scrape time.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import prometheus_client.metrics
from prometheus_client import CollectorRegistry, Metric
from prometheus_client.utils import floatToGoString

__all__ = ["CounterVec", "GaugeVec", "HistogramVec", "SeriesCollector"]

C = TypeVar("C")


def _use_created() -> bool:
    """Whether prometheus_client exports ``_created`` series (``PROMETHEUS_DISABLE_CREATED_SERIES``)."""
    return bool(getattr(prometheus_client.metrics, "_use_created", True))


class Counter:
    """One counter series."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()


class Gauge:
    """One gauge series."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0


class Histogram:
    """One histogram series: ``counts[i]`` observations in bucket ``i`` (not cumulative)."""

    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value


class _Vec(Generic[C]):
    """A family: its children by label values, in the order they were made."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], make: Callable[[], C]
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self.children: dict[tuple[str, ...], C] = {}
        self._make = make

    def labels(self, *values: str) -> C:
        """The child of ``values`` (made at zero on first use): bind it once, update it often."""
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = self._make()
        return child

    def metric(self) -> Metric:
        raise NotImplementedError


class CounterVec(_Vec[Counter]):
    """Counters by label values (``name`` without ``_total``)."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        super().__init__(name.removesuffix("_total"), documentation, labelnames, Counter)

    def metric(self) -> Metric:
        metric = Metric(self.name, self.documentation, "counter")
        created = _use_created()
        for values, child in self.children.items():
            labels = dict(zip(self.labelnames, values, strict=True))
            metric.add_sample(f"{self.name}_total", labels, child.value)
            if created:
                metric.add_sample(f"{self.name}_created", labels, child.created)
        return metric


class GaugeVec(_Vec[Gauge]):
    """Gauges by label values."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        super().__init__(name, documentation, labelnames, Gauge)

    def metric(self) -> Metric:
        metric = Metric(self.name, self.documentation, "gauge")
        for values, child in self.children.items():
            metric.add_sample(self.name, dict(zip(self.labelnames, values, strict=True)), child.value)
        return metric


class HistogramVec(_Vec[Histogram]):
    """Histograms by label values, with the upper bounds ``buckets`` (``+Inf`` added)."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> None:
        bounds = tuple(float(b) for b in buckets)
        super().__init__(name, documentation, labelnames, lambda: Histogram(bounds))
        self.les = [str(floatToGoString(b)) for b in (*bounds, float("inf"))]  # type: ignore[no-untyped-call]

    def metric(self) -> Metric:
        metric = Metric(self.name, self.documentation, "histogram")
        les = self.les
        created = _use_created()
        for values, child in self.children.items():
            labels = dict(zip(self.labelnames, values, strict=True))
            total = 0.0
            for le, count in zip(les, child.counts, strict=True):
                total += count
                metric.add_sample(f"{self.name}_bucket", {**labels, "le": le}, total)
            metric.add_sample(f"{self.name}_count", labels, total)
            metric.add_sample(f"{self.name}_sum", labels, child.sum)
            if created:
                metric.add_sample(f"{self.name}_created", labels, child.created)
        return metric


class SeriesCollector:
    """Exports its vectors' families, in the order they were added, from a registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._vecs: list[_Vec[Any]] = []
        registry.register(self)

    def add(self, vec: _Vec[Any]) -> None:
        self._vecs.append(vec)

    def counter(self, name: str, documentation: str, labelnames: Sequence[str]) -> CounterVec:
        vec = CounterVec(name, documentation, labelnames)
        self.add(vec)
        return vec

    def gauge(self, name: str, documentation: str, labelnames: Sequence[str]) -> GaugeVec:
        vec = GaugeVec(name, documentation, labelnames)
        self.add(vec)
        return vec

    def histogram(
        self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> HistogramVec:
        vec = HistogramVec(name, documentation, labelnames, buckets)
        self.add(vec)
        return vec

    def collect(self) -> Iterator[Metric]:
        for vec in self._vecs:
            yield vec.metric()

    def describe(self) -> Iterator[Metric]:
        """Nothing: the registry then need not check these names against others'."""
        return iter(())
