"""Client traffic for the tour: concurrent requests through the local gateway, tallied by version."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Answer:
    status: int
    function_version: str
    body: dict[str, object]
    request_id: str = ""
    """X-Request-Id: the id the prediction is logged under, which POST /feedback names."""


@dataclass
class Tally:
    """Answers counted by (function version, HTTP status); `lost` counts requests with no answer."""

    counts: Counter[tuple[str, int]] = field(default_factory=Counter)
    lost: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, answer: Answer | None) -> None:
        with self._lock:
            if answer is None:
                self.lost += 1
            else:
                self.counts[(answer.function_version, answer.status)] += 1

    def merge(self, other: Tally) -> None:
        with self._lock:
            self.counts.update(other.counts)
            self.lost += other.lost

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.lost

    def by_version(self) -> dict[str, Counter[int]]:
        result: dict[str, Counter[int]] = {}
        for (version, status), count in sorted(self.counts.items()):
            result.setdefault(version, Counter())[status] += count
        return result

    def describe(self) -> str:
        parts = []
        for version, statuses in self.by_version().items():
            answered = sum(statuses.values())
            codes = ", ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))
            parts.append(f"v{version}: {answered} ({100 * answered / max(self.total, 1):.0f}%: {codes})")
        return "; ".join(parts) + (f"; lost: {self.lost}" if self.lost else "; lost: 0")


class Client:
    """A client of the deployed API: POST /predict with the API key."""

    def __init__(self, api_url: str, api_key: str | None, timeout_s: float = 30.0) -> None:
        self.api_url = api_url
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["x-api-key"] = api_key
        self.timeout_s = timeout_s

    def predict(self, rows: Sequence[Sequence[float]]) -> Answer | None:
        data = json.dumps({"instances": [list(row) for row in rows]}).encode()
        request = urllib.request.Request(f"{self.api_url}/predict", data=data, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return Answer(
                    response.status,
                    response.headers.get("X-Function-Version", "?"),
                    json.loads(response.read()),
                    response.headers.get("X-Request-Id", ""),
                )
        except urllib.error.HTTPError as error:
            body = json.loads(error.read() or b"{}")
            return Answer(error.code, error.headers.get("X-Function-Version", "?"), body)
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            return None

    def feedback(self, labels: Sequence[tuple[str, object]]) -> int:
        """POST /feedback {"feedback": [{"request_id", "label"}, ...]}; the HTTP status."""
        items = [{"request_id": request_id, "label": label} for request_id, label in labels]
        data = json.dumps({"feedback": items}).encode()
        request = urllib.request.Request(f"{self.api_url}/feedback", data=data, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def feedback_rows(self, items: Sequence[tuple[str, int, object]]) -> int:
        """POST /feedback {"feedback": [{"request_id", "row", "label"}, ...]}; the HTTP status."""
        body = [{"request_id": request_id, "row": row, "label": label} for request_id, row, label in items]
        request = urllib.request.Request(
            f"{self.api_url}/feedback", data=json.dumps({"feedback": body}).encode(), headers=self.headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def burst(self, count: int, rows: Callable[[int], Sequence[Sequence[float]]], workers: int = 4) -> Tally:
        tally = Tally()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for answer in pool.map(lambda i: self.predict(rows(i)), range(count)):
                tally.add(answer)
        return tally

    @contextmanager
    def background(
        self, rows: Callable[[int], Sequence[Sequence[float]]], workers: int = 4
    ) -> Iterator[Tally]:
        """Steady traffic from `workers` clients until the block ends (each sends back to back)."""
        tally = Tally()
        stop = threading.Event()
        counter = iter(range(10**9))
        lock = threading.Lock()

        def client() -> None:
            while not stop.is_set():
                with lock:
                    index = next(counter)
                tally.add(self.predict(rows(index)))

        threads = [threading.Thread(target=client, daemon=True) for _ in range(workers)]
        for thread in threads:
            thread.start()
        try:
            yield tally
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=self.timeout_s + 5)
