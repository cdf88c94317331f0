"""A closed-loop HTTP/1.1 load generator with keep-alive, run in its own process.

`python -m bench.loadgen --url URL --clients 16 --seconds 20 --warmup 3 [--header K:V] --body JSON`
prints one JSON summary line. Each client holds one keep-alive connection and sends the next
request when the previous answer arrived. Requests started during the warm-up are not recorded;
requests started in the measured window are all awaited, and every one of them is accounted for:
answered 200, answered with another status, or lost (connection error, malformed answer, or no
answer within the timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.core import Summary


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    sent: int = 0


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, payload: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(payload)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed before the status line")
        parts = status_line.decode("latin-1").split(" ", 2)
        status = int(parts[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def build_request(url: str, body: bytes, headers: dict[str, str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [
        f"POST {parts.path or '/'} HTTP/1.1",
        f"Host: {host}:{port}",
        "Connection: keep-alive",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def client(
    host: str, port: int, payload: bytes, warmup_end: float, end: float, timeout: float, tally: Tally
) -> None:
    connection = Connection(host, port)
    clock = time.perf_counter
    while True:
        started = clock()
        if started >= end:
            break
        measured = started >= warmup_end
        if measured:
            tally.sent += 1
        try:
            status, headers, _ = await asyncio.wait_for(connection.request(payload), timeout)
        except TimeoutError:
            await connection.close()
            if measured:
                tally.lost["timeout"] += 1
            continue
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            await connection.close()
            if measured:
                tally.lost[type(exc).__name__] += 1
            await asyncio.sleep(0.01)
            continue
        if measured:
            tally.latencies_ms.append((clock() - started) * 1000)
            tally.statuses[status] += 1
            tally.versions[headers.get("x-function-version", "?")] += 1
    await connection.close()


async def run_load(
    url: str,
    body: bytes,
    headers: dict[str, str],
    clients: int,
    seconds: float,
    warmup: float,
    timeout: float,
) -> dict[str, Any]:
    host, port, payload = build_request(url, body, headers)
    tally = Tally()
    start = time.perf_counter()
    warmup_end, end = start + warmup, start + warmup + seconds
    await asyncio.gather(
        *(client(host, port, payload, warmup_end, end, timeout, tally) for _ in range(clients))
    )
    elapsed = time.perf_counter() - warmup_end
    ok = tally.statuses.get(200, 0)
    summary: dict[str, Any] = {
        "clients": clients,
        "seconds": seconds,
        "elapsed_s": elapsed,
        "sent": tally.sent,
        "ok": ok,
        "requests_per_s": ok / elapsed if elapsed > 0 else 0.0,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "lost_by_kind": dict(tally.lost),
        "lost": sum(tally.lost.values()),
        "not_ok": tally.sent - ok,
        "versions": dict(tally.versions),
    }
    if tally.latencies_ms:
        s = Summary.of(tally.latencies_ms)
        summary.update({"p50_ms": s.median, "p99_ms": s.p99, "max_ms": s.maximum, "samples": s.samples})
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="closed-loop keep-alive HTTP load")
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True, help="the JSON request body")
    parser.add_argument("--header", action="append", default=[], help="Name: value (repeatable)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    headers = dict((h.split(":", 1)[0].strip(), h.split(":", 1)[1].strip()) for h in args.header)
    summary = asyncio.run(
        run_load(args.url, args.body.encode(), headers, args.clients, args.seconds, args.warmup, args.timeout)
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
