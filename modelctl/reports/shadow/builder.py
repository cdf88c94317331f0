"""The report over a window whatever kind of models the shadow compares: each record goes to the
classifier statistics (`stats.ReportBuilder`) or to the regression statistics
(`regression.RegressionReportBuilder`), told apart by its answers (`is_regression_record`), and the
report is the document of the kind most of the window's records are.

A window of classifier records gives exactly the classifier document; a window of regressor records
the regression one (`"task": "regression"`). Records of the other kind in a mixed window (a shadow
of another kind of model, or a live model replaced by another kind) are counted in
`source.other_task_records`, and what either builder counted outside the window, as duplicates or
as invalid is added to the document's counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from modelctl.reports.shadow.records import ReportRecord
from modelctl.reports.shadow.regression import RegressionReportBuilder, Tolerance, is_regression_record
from modelctl.reports.shadow.stats import ReportBuilder
from modelctl.reports.shadow.window import Window


class ShadowReportBuilder:
    def __init__(self, window: Window, *, top: int = 10, tolerance: Tolerance | None = None) -> None:
        self.classifier = ReportBuilder(window, top=top)
        self.regression = RegressionReportBuilder(window, top=top, tolerance=tolerance)

    def add_report_records(self, items: Iterable[ReportRecord]) -> None:
        """Records as `RecordReader.report_records` hands them out. A typed record is a classifier's
        (the typed structs take integer or text labels only); a general one is routed by its answers."""
        add, add_typed, add_regression = self.classifier.add, self.classifier.add_typed, self.regression.add
        for typed, payload in items:
            if typed is not None:
                add_typed(typed, payload)
            elif is_regression_record(payload):
                add_regression(payload)
            else:
                add(payload)

    def request_minutes(self) -> Counter[tuple[str, str]]:
        """Requests found per (live function version, minute), both kinds of records: coverage."""
        return self.classifier.request_minutes + self.regression.request_minutes

    @property
    def is_regression(self) -> bool:
        classifier, regression = self.classifier, self.regression
        if regression.records != classifier.records:
            return regression.records > classifier.records
        return regression.records == 0 and regression.outside_window > classifier.outside_window

    def result(self, *, source: dict[str, Any] | None = None) -> dict[str, Any]:
        chosen: ReportBuilder | RegressionReportBuilder
        other: ReportBuilder | RegressionReportBuilder
        if self.is_regression:
            chosen, other = self.regression, self.classifier
        else:
            chosen, other = self.classifier, self.regression
        document = chosen.result(source=source)
        counts = document["source"]
        counts["duplicates_dropped"] += other.duplicates
        counts["outside_window"] += other.outside_window
        counts["invalid_records"] += other.invalid
        if other.records:
            counts["other_task_records"] = other.records
        return document
