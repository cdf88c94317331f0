"""Tiny functions for the freeze and log subscription tests.

- `logger`: writes one JSON record line (one os.write, before returning) and answers;
- `ticker`: starts a background thread at init that appends a tick to $TICKS every few ms;
- `deferred`: hands its record to a background thread that writes it a moment later (the pattern
  a frozen environment loses);
- `collect`: a subscription destination: decodes the awslogs event and appends each batch to $OUT;
  fails while the file $FAIL_FILE holds a number above zero (decremented on each failure).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import threading
import time
from pathlib import Path
from typing import Any


def logger(event: dict[str, Any], context: Any) -> dict[str, Any]:
    line = json.dumps({"message": "prediction served", "request_id": event.get("id"), "kind": "record"})
    os.write(1, (line + "\n").encode())
    return {"ok": True}


def _tick(path: Path) -> None:
    while True:
        with path.open("a") as handle:
            handle.write("t\n")
        time.sleep(0.005)


if os.environ.get("TICKS"):
    threading.Thread(target=_tick, args=(Path(os.environ["TICKS"]),), daemon=True).start()


def ticker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"pid": os.getpid()}


def deferred(event: dict[str, Any], context: Any) -> dict[str, Any]:
    def later() -> None:
        time.sleep(0.2)
        line = json.dumps({"message": "prediction served", "request_id": event.get("id"), "kind": "deferred"})
        os.write(1, (line + "\n").encode())

    threading.Thread(target=later, daemon=True).start()
    return {"ok": True}


def collect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    fail_file = os.environ.get("FAIL_FILE")
    if fail_file and Path(fail_file).is_file():
        left = int(Path(fail_file).read_text() or 0)
        if left > 0:
            Path(fail_file).write_text(str(left - 1))
            raise RuntimeError("collect told to fail")
    batch = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    with Path(os.environ["OUT"]).open("a") as handle:
        handle.write(json.dumps(batch) + "\n")
    return {"events": len(batch["logEvents"])}
