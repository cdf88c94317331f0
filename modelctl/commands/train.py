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
    baseline: Annotated[
        str | None,
        typer.Option(
            help="the heuristic the model must beat on the holdout: module:function / file.py:function, "
            "called as rule(X, feature_names) with the holdout rows (2-D float array), returning one "
            "prediction per row (class labels or numbers). Default: the training majority class "
            "(classifiers) or mean (regressors)"
        ),
    ] = None,
    baseline_margin: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="how much the model must beat the baseline by, in the primary metric's units "
            "(accuracy for classifiers, rmse for regressors); 0 means strictly better",
        ),
    ] = 0.0,
    baseline_policy: Annotated[
        str,
        typer.Option(help="refuse (no artifact, exit 1) or warn when the model does not beat its baseline"),
    ] = "refuse",
) -> None:
    """Train, export to ONNX, check parity on the holdout and write model_artifacts/<version>/."""
    from training.baseline import POLICIES, BaselineError, BaselineSpec, describe_comparison
    from training.data import DataError, load_builtin, load_csv
    from training.export import ConversionError, ParityError
    from training.pipelines import PipelineSpecError, build_pipeline, default_pipeline
    from training.train import train_model

    if (csv is None) != (target is None):
        raise ModelctlError("--csv and --target go together: name the CSV file and its target column")
    if baseline_policy not in POLICIES:
        raise ModelctlError(
            f"--baseline-policy must be one of {', '.join(POLICIES)}, not {baseline_policy!r}"
        )
    console = Console()
    try:
        spec = BaselineSpec(rule=baseline, margin=baseline_margin, policy=baseline_policy)
        data = load_csv(csv, target) if csv is not None and target is not None else load_builtin(dataset)
        pipeline = default_pipeline(data.y) if pipeline is None else pipeline
        estimator = build_pipeline(pipeline)
        with console.status(f"training {pipeline} on {data.source} ({len(data.X)} rows)"):
            result = train_model(
                data, estimator, output_root=output, test_size=test_size, seed=seed, baseline=spec
            )
    except (DataError, PipelineSpecError, ConversionError, ParityError, BaselineError) as exc:
        raise ModelctlError(str(exc)) from exc
    metadata = result.metadata
    table = Table(
        title=f"{metadata.task} model {metadata.version}" + ("" if result.created else " (already existed)")
    )
    fitted = result.baseline
    baseline_metrics: dict[str, float] = fitted.get("metrics", {})
    table.add_column("holdout metric")
    table.add_column("model", justify="right")
    table.add_column(f"baseline ({fitted.get('kind', 'none')})", justify="right")
    for name, value in sorted(metadata.metrics.items()):
        shown = baseline_metrics.get(name)
        table.add_row(name, f"{value:.4f}", "-" if shown is None else f"{shown:.4f}")
    if metadata.task == "regression":
        table.add_row("parity: max |y_onnx - y_sklearn|", f"{metadata.parity['max_abs_diff']:.2e}")
        table.add_row("parity: max |diff| / max(1, |y|)", f"{metadata.parity['max_rel_diff']:.2e}")
    else:
        table.add_row(
            "parity: max |p_onnx - p_sklearn|", f"{metadata.parity['max_abs_probability_diff']:.2e}"
        )
    console.print(table)
    comparison = fitted.get("comparison")
    if comparison:
        verdict = "beats" if comparison["beats_baseline"] else "does NOT beat"
        console.print(
            f"{comparison['metric']}: model {comparison['model']:.4f} "
            f"vs baseline {comparison['baseline']:.4f}, "
            f"improvement {comparison['improvement']:+.4f} (margin > {comparison['margin']:g}): "
            f"the model {verdict} its baseline"
        )
        if not result.beats_baseline:
            console.print(f"warning: {describe_comparison(fitted['kind'], comparison)}")
    console.print(f"artifact: {result.artifact_dir}")
