"""Reading a /metrics answer the way Prometheus does, for tests of what the services expose."""

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass(frozen=True)
class Scrape:
    samples: list[Sample]

    @classmethod
    def of(cls, response: httpx.Response) -> "Scrape":
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        families = text_string_to_metric_families(response.text)
        return cls([sample for family in families for sample in family.samples])

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called `name` that carry every given label; 0 if none."""
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def labels(self, name: str, label: str) -> set[str]:
        """Every value `label` takes in the samples called `name`."""
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}

    def names(self) -> set[str]:
        return {sample.name for sample in self.samples}


async def scrape(http: httpx.AsyncClient, url: str = "/metrics") -> Scrape:
    return Scrape.of(await http.get(url))
