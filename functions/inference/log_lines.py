"""Per-request structured log lines and CloudWatch metrics (EMF), built as strings on the hot path.

Powertools' Logger and Metrics are costly per request (record objects, caller lookup, key
merging, a JSON round trip of every message, a flush per line; docs/performance.md has figures).
These writers produce the same JSON documents -- the keys Powertools' Logger writes and the
Embedded Metric Format document Powertools' Metrics flushes -- from prefixes built once per
function version, and write everything an invocation logs with one `write` and one `flush`.
Exceptions and shadow-mirroring warnings still go through Powertools' Logger (off the hot path).
"""

from __future__ import annotations

import codecs
import io
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring_ascii as quote
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

Metric = tuple[str, str, float]
"""(name, unit, value)"""

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50}


def info_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether INFO lines are written: the level Powertools' Logger reads (POWERTOOLS_LOG_LEVEL,
    then LOG_LEVEL; INFO when neither is set)."""
    level = environ.get("POWERTOOLS_LOG_LEVEL") or environ.get("LOG_LEVEL") or "INFO"
    return _LEVELS.get(level.strip().upper(), 20) <= 20


_MILLISECONDS = tuple(f"{millis:03d}" for millis in range(1000))
_SERVED_HEAD = '{"level":"INFO","location":"predict","message":"prediction served","timestamp":"'
_TRACE_VARIABLE = "_X_AMZN_TRACE_ID"


def _environ_reader(name: str) -> Callable[[], str | None]:
    """A reader of one environment variable that is cheap when it is unset. `os.environ.get`
    raises and catches a KeyError for a missing name, which is dear in the warm handler
    (docs/performance.md), on every request where Lambda sets no trace header. On POSIX
    `os.environ` keeps its values in `_data`, a dict of bytes that every assignment through
    `os.environ` (the runtime's, per invocation) updates; elsewhere, or if that ever changes, the
    public `get`."""
    data = getattr(os.environ, "_data", None)
    key = name.encode()
    if isinstance(data, dict) and os.name == "posix" and os.environ.get(name) == _decoded(data.get(key)):

        def read() -> str | None:
            return _decoded(data.get(key))

        return read
    return lambda: os.environ.get(name)


def _decoded(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode(errors="surrogateescape")


_trace_header = _environ_reader(_TRACE_VARIABLE)


def _trace_member() -> str:
    """`,"xray_trace_id":"1-..."` when Lambda set this invocation's trace header, else ""."""
    trace = _trace_header()
    if not trace:
        return ""
    return f',"xray_trace_id":{quote(trace.split(";", 1)[0].replace("Root=", ""))}'


class RequestLog:
    """INFO lines with the keys Powertools' Logger writes: level, location,
    message, timestamp (same format), service, model_version, function_version, correlation_id,
    the event's own fields and xray_trace_id (when Lambda set one). The input rows only inside a
    sampled request's outcome record (inference.record_line), never in any other line."""

    def __init__(self, *, service: str, model_version: str, enabled: bool = True) -> None:
        self.enabled = enabled
        self._service = service
        self._model_version = model_version
        self._keys = ""
        self._second = -1
        self._second_text = ""
        self.bind_function_version("")

    def bind_function_version(self, function_version: str) -> None:
        self._keys = (
            f'"service":{quote(self._service)},"model_version":{quote(self._model_version)},'
            f'"function_version":{quote(function_version)},"correlation_id":'
        )

    def _timestamp(self) -> str:
        return self._timestamp_at(time.time())

    def _timestamp_at(self, now: float) -> str:
        """Powertools' format for the time `now` (seconds since the epoch), in UTC."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))
        return f"{self._second_text},{_MILLISECONDS[int((now - second) * 1000)]}+0000"

    def line(self, location: str, message: str, request_id: str, fields: str) -> str:
        """One JSON line; `fields` is a JSON object's members, already encoded (`"rows":1,...`)."""
        return (
            f'{{"level":"INFO","location":"{location}","message":"{message}","timestamp":'
            f'"{self._timestamp()}",{self._keys}{quote(request_id)},{fields}{_trace_member()}}}\n'
        )

    def served(self, request_id: str, rows: int, inference_ms: float, record: str = "") -> str:
        """`line("predict", "prediction served", ...)` in one f-string: every served request's line.
        `record` (the outcome record's members, inference.record_line) makes it written whatever
        the log level: it is the request's durable record, not a diagnostic."""
        if not (self.enabled or record):
            return ""
        return (
            f'{_SERVED_HEAD}{self._timestamp()}",{self._keys}{quote(request_id)},"rows":{rows},'
            f'"inference_ms":{inference_ms!r}{record}{_trace_member()}}}\n'
        )

    def rejected(self, request_id: str, status: int, error_code: str) -> str:
        if not self.enabled:
            return ""
        return self.line(
            "handle_request_error",
            "request rejected",
            request_id,
            f'"status":{status},"error_code":{quote(error_code)}',
        )


class EmfMetrics:
    """One Embedded Metric Format line per invocation, as Powertools' Metrics flushes it: namespace,
    dimensions [["FunctionVersion", "service"]], one entry per metric with its unit, values as
    one-element lists. Release gates and alarms read these by FunctionVersion."""

    def __init__(self, *, namespace: str, service: str, enabled: bool = True) -> None:
        self.enabled = enabled
        self._namespace = namespace
        self._service = service
        self._after_timestamp = ""
        self._dimension_values = ""
        self._definitions: dict[tuple[tuple[str, str], ...], tuple[str, str]] = {}
        self._prediction_head = ""
        self.bind_function_version("")

    def bind_function_version(self, function_version: str) -> None:
        self._after_timestamp = (
            f',"CloudWatchMetrics":[{{"Namespace":{quote(self._namespace)},'
            '"Dimensions":[["FunctionVersion","service"]],"Metrics":['
        )
        self._dimension_values = (
            f'"FunctionVersion":{quote(function_version)},"service":{quote(self._service)}'
        )
        definitions, _ = self._templates(PREDICTION_METRICS)
        self._prediction_head = (
            f"{self._after_timestamp}{definitions}]}}]}},{self._dimension_values},"
            '"Predictions":[1.0],"PredictedRows":['
        )

    def _templates(self, metrics: Sequence[Metric]) -> tuple[str, str]:
        """(the Metrics definitions, the values with a %s per value) for this list of metrics."""
        key = tuple((name, unit) for name, unit, _ in metrics)
        found = self._definitions.get(key)
        if found is None:
            definitions = ",".join(f'{{"Name":{quote(name)},"Unit":{quote(unit)}}}' for name, unit in key)
            values = ",".join(quote(name).replace("%", "%%") + ":[%s]" for name, _ in key)
            found = self._definitions[key] = (definitions, values)
        return found

    def render(self, metrics: Sequence[Metric]) -> str:
        if not self.enabled or not metrics:
            return ""
        definitions, values = self._templates(metrics)
        numbers = values % tuple([_number(value) for _, _, value in metrics])
        return (
            f'{{"_aws":{{"Timestamp":{int(time.time() * 1000)}{self._after_timestamp}'
            f"{definitions}]}}]}},{self._dimension_values},{numbers}}}\n"
        )

    def render_prediction(self, rows: int, inference_ms: float) -> str:
        """`render(prediction_metrics(rows, inference_ms))`, from a prefix built once per function
        version: the line every served request writes."""
        if not self.enabled:
            return ""
        ms = float(inference_ms)
        if ms - ms != 0.0:  # not finite: the general path writes it as Powertools does
            return self.render(prediction_metrics(rows, ms))
        return (
            f'{{"_aws":{{"Timestamp":{int(time.time() * 1000)}{self._prediction_head}'
            f'{float(rows)!r}],"InferenceTime":[{ms!r}]}}\n'
        )


class PredictionLines:
    """A served prediction's request log line and EMF line (`RequestLog.served`, then
    `EmfMetrics.render_prediction`) in one f-string, with one clock read and one `repr` of the
    inference time: the same text the two give when the clock does not move between them."""

    def __init__(self, request_log: RequestLog, metrics: EmfMetrics) -> None:
        self.request_log = request_log
        self.metrics = metrics

    def render(self, request_id: str, rows: int, inference_ms: float, record: str = "") -> str:
        """The two lines; `record`: the outcome record's members for the served line (`served`)."""
        log, metrics = self.request_log, self.metrics
        ms = float(inference_ms)
        if not (log.enabled and metrics.enabled) or ms - ms != 0.0:
            return log.served(request_id, rows, inference_ms, record) + metrics.render_prediction(
                rows, inference_ms
            )
        now = time.time()
        ms_text = repr(ms)
        return (
            f'{_SERVED_HEAD}{log._timestamp_at(now)}",{log._keys}{quote(request_id)},"rows":{rows},'
            f'"inference_ms":{ms_text}{record}{_trace_member()}}}\n'
            f'{{"_aws":{{"Timestamp":{int(now * 1000)}{metrics._prediction_head}'
            f'{float(rows)!r}],"InferenceTime":[{ms_text}]}}\n'
        )


def prediction_metrics(rows: int, inference_ms: float) -> list[Metric]:
    """The metrics of a served prediction, in the order they are written."""
    return [
        ("Predictions", "Count", 1.0),
        ("PredictedRows", "Count", float(rows)),
        ("InferenceTime", "Milliseconds", inference_ms),
    ]


PREDICTION_METRICS: tuple[Metric, ...] = tuple(prediction_metrics(0, 0.0))


def _number(value: float) -> str:
    number = float(value)
    return repr(number) if number - number == 0.0 else json.dumps(number)  # inf/nan: as Powertools


class LineWriter:
    """Writes an invocation's lines, and flushes them, to the stream the handler saw at init.

    When that stream is a plain text file (sys.stdout: an `io.TextIOWrapper`, on Lambda inside
    awslambdaric's `Unbuffered`, which only adds a flush to each write) with UTF-8 encoding on
    POSIX, the lines' bytes go straight to its file descriptor: one `os.write` instead of the
    wrapper's Python `write`, the text layer's encode and copy, and a flush through each layer.
    The stream is flushed first, so anything written through it before still comes first, and
    the bytes are those the stream would write (the lines are ASCII: every value is JSON-escaped;
    no newline translation on POSIX). Any other stream (a StringIO, a test's capture) gets its
    own `write` and `flush`."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._raw = _raw_file(stream)

    def write(self, text: str) -> None:
        raw = self._raw
        if raw is None:
            self.stream.write(text)
            self.stream.flush()
            return
        flush, descriptor = raw
        flush()
        data = text.encode()
        written = os.write(descriptor, data)
        while written < len(data):  # a pipe may take a large write in parts
            written += os.write(descriptor, data[written:])


def _raw_file(stream: TextIO) -> tuple[Callable[[], None], int] | None:
    """(the text file's flush, its file descriptor) when `LineWriter` may write there directly."""
    inner: object = stream
    if type(stream).__name__ == "Unbuffered":  # awslambdaric's stdout: write, then flush
        inner = getattr(stream, "stream", None)
    if type(inner) is not io.TextIOWrapper or os.name != "posix":
        return None
    try:
        if codecs.lookup(inner.encoding).name != "utf-8":
            return None
        return inner.flush, inner.fileno()
    except (OSError, ValueError, LookupError):  # closed, or no descriptor beneath
        return None


class LazyLogger:
    """Powertools' Logger, imported and created on first use: only internal errors and shadow
    mirroring's warnings log through it, so a cold start without either does not import it."""

    def __init__(self, **keys: str) -> None:
        self._keys = dict(keys)
        self._logger: Logger | None = None

    def get(self) -> Logger:
        if self._logger is None:
            from aws_lambda_powertools import Logger

            self._logger = Logger()
            self._logger.append_keys(**self._keys)
        return self._logger

    def append_keys(self, **keys: str) -> None:
        self._keys.update(keys)
        if self._logger is not None:
            self._logger.append_keys(**keys)
