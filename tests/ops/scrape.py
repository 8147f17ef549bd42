"""Reading a gateway's ``/metrics`` the way Prometheus does (prometheus_client's parser)."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


async def scrape(base_url: str, http: aiohttp.ClientSession | None = None) -> Samples:
    own = http is None
    session = http or aiohttp.ClientSession()
    try:
        async with session.get(f"{base_url}/metrics") as response:
            assert response.status == 200
            return parse(await response.text())
    finally:
        if own:
            await session.close()


def value(samples: Samples, name: str, **labels: str) -> float:
    """One series' value; 0 when absent (a counter never incremented, a gauge with no rows)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over every series of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)
