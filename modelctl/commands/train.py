"""`modelctl train`: train a scikit-learn pipeline and write an ONNX artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from modelctl.errors import ModelctlError

DEFAULT_OUTPUT = Path("model_artifacts")


def train(
    csv: Annotated[
        Path | None, typer.Option(help="CSV with a header row; all columns but the target are features")
    ] = None,
    target: Annotated[str | None, typer.Option(help="target column of --csv")] = None,
    dataset: Annotated[
        str,
        typer.Option(
            help="built-in data set when no --csv: breast_cancer, iris, wine, diabetes (regression)"
        ),
    ] = "breast_cancer",
    pipeline: Annotated[
        str | None,
        typer.Option(
            help="classifiers: logistic_regression, random_forest, gradient_boosting; regressors: ridge, "
            "random_forest_regressor, gradient_boosting_regressor; or module:function / file.py:function "
            "returning an unfitted scikit-learn classifier or regressor (the task is read from it). "
            "Default: ridge when the target is numeric with a fractional value or more than 20 distinct "
            "values, else logistic_regression"
        ),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="artifact root folder")] = DEFAULT_OUTPUT,
    test_size: Annotated[
        float, typer.Option(min=0.05, max=0.5, help="holdout share for metrics and parity")
    ] = 0.25,
    seed: Annotated[int, typer.Option(help="random seed of the holdout split")] = 0,
) -> None:
    """Train, export to ONNX, check parity on the holdout and write model_artifacts/<version>/."""
    from training.data import DataError, load_builtin, load_csv
    from training.export import ConversionError, ParityError
    from training.pipelines import PipelineSpecError, build_pipeline, default_pipeline
    from training.train import train_model

    if (csv is None) != (target is None):
        raise ModelctlError("--csv and --target go together: name the CSV file and its target column")
    console = Console()
    try:
        data = load_csv(csv, target) if csv is not None and target is not None else load_builtin(dataset)
        pipeline = default_pipeline(data.y) if pipeline is None else pipeline
        estimator = build_pipeline(pipeline)
        with console.status(f"training {pipeline} on {data.source} ({len(data.X)} rows)"):
            result = train_model(data, estimator, output_root=output, test_size=test_size, seed=seed)
    except (DataError, PipelineSpecError, ConversionError, ParityError) as exc:
        raise ModelctlError(str(exc)) from exc
    metadata = result.metadata
    table = Table(
        title=f"{metadata.task} model {metadata.version}" + ("" if result.created else " (already existed)")
    )
    table.add_column("holdout metric")
    table.add_column("value", justify="right")
    for name, value in sorted(metadata.metrics.items()):
        table.add_row(name, f"{value:.4f}")
    if metadata.task == "regression":
        table.add_row("parity: max |y_onnx - y_sklearn|", f"{metadata.parity['max_abs_diff']:.2e}")
        table.add_row("parity: max |diff| / max(1, |y|)", f"{metadata.parity['max_rel_diff']:.2e}")
    else:
        table.add_row(
            "parity: max |p_onnx - p_sklearn|", f"{metadata.parity['max_abs_probability_diff']:.2e}"
        )
    console.print(table)
    console.print(f"artifact: {result.artifact_dir}")
