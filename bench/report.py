"""The one table: what, median, p99, baseline, ratio, target, met? (Rich), and its Markdown twin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.core import RATIO_DEFINITION, BenchResult, Measurement

COLUMNS = ("what", "median", "p99", "baseline", "ratio", "target", "met?")


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("req/s", "records/s"):
        return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
    if unit == "MB":
        return f"{value:.1f} MB"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    if abs(value) >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.1f}x"


def met_text(measurement: Measurement) -> str:
    target = measurement.target
    if target is None:
        return ""
    if target.met is None:
        return "?"
    return "yes" if target.met else f"NO ({', '.join(target.failed)})"


def measurement_cells(measurement: Measurement) -> list[str]:
    indent = "  " * measurement.level + ("- " if measurement.level else "")
    if measurement.baselines:
        baseline = "\n".join(f"{b.name}: {fmt(b.median, b.unit)}" for b in measurement.baselines)
        ratio = "\n".join(fmt_ratio(b.ratio) for b in measurement.baselines)
    else:
        baseline, ratio = measurement.note, ""
    return [
        indent + measurement.what,
        fmt(measurement.median, measurement.unit),
        fmt(measurement.p99, measurement.unit) if measurement.p99 is not None else "",
        baseline,
        ratio,
        measurement.target.text if measurement.target is not None else "",
        met_text(measurement),
    ]


def rows(results: Sequence[BenchResult]) -> list[tuple[str, list[list[str]]]]:
    """(section title, rows) per benchmark: the content of the table, independent of Rich."""
    sections = []
    for result in results:
        if result.status != "ok":
            label = "SKIPPED" if result.status == "skipped" else "ERROR"
            body = [[f"{result.title}: {label}: {result.reason}", "", "", "", "", "", result.status]]
        else:
            body = [measurement_cells(m) for m in result.measurements]
        sections.append((result.title, body))
    return sections


def build_table(results: Sequence[BenchResult], machine: Mapping[str, Any] | None = None) -> Table:
    caption = f"ratio = {RATIO_DEFINITION}"
    if machine:
        caption = (
            f"{machine.get('cpu_model')}, {machine.get('cores')} cores, Python {machine.get('python')}, "
            f"onnxruntime {machine.get('onnxruntime')}, numpy {machine.get('numpy')}, "
            f"load {machine.get('loadavg_at_start')}; {caption}"
        )
    table = Table(title="make bench", caption=caption, show_lines=False)
    widths = {"what": (44, 60), "baseline": (30, 44), "target": (22, 30), "met?": (8, 22)}
    for name in COLUMNS:
        low, high = widths.get(name, (None, None))
        table.add_column(
            name,
            overflow="fold",
            no_wrap=name in ("median", "p99", "ratio"),
            min_width=low,
            max_width=high,
            justify="right" if name in ("median", "p99", "ratio") else "left",
        )
    for index, (_, body) in enumerate(rows(results)):
        if index:
            table.add_section()
        for cells in body:
            style = "bold" if cells[0] and not cells[0].startswith(" ") else None
            table.add_row(*cells, style=style)
    return table


def markdown_table(results: Sequence[BenchResult]) -> str:
    """The same rows as Markdown, for docs/performance.md."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for _, body in rows(results):
        for cells in body:
            escaped = [cell.replace("|", "\\|").replace("\n", "<br>").strip() or " " for cell in cells]
            if cells[0].startswith(" "):
                escaped[0] = "&nbsp;&nbsp;" + escaped[0]
            lines.append("| " + " | ".join(escaped) + " |")
    return "\n".join(lines)


def load(path: Path) -> tuple[list[BenchResult], dict[str, Any]]:
    from bench.core import read_results

    document = read_results(path) or {}
    results = [BenchResult.from_dict(entry) for entry in document.get("benchmarks", [])]
    return results, dict(document.get("machine", {}))


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.report [--markdown] [FILE]`: the table of a results file, without re-running."""
    import argparse

    from rich.console import Console

    from bench.core import RESULTS_FILE

    parser = argparse.ArgumentParser(prog="python -m bench.report", description=main.__doc__)
    parser.add_argument("file", nargs="?", type=Path, default=RESULTS_FILE)
    parser.add_argument(
        "--markdown", action="store_true", help="print the Markdown table (docs/performance.md)"
    )
    args = parser.parse_args(argv)
    results, machine = load(args.file)
    if args.markdown:
        print(markdown_table(results))
    else:
        Console(width=max(Console().width, 200)).print(build_table(results, machine))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
