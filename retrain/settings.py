"""What a retraining run is told: the function's environment (set by the stack from the config)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

from retrain.errors import StepError

ReleaseMode = Literal["shadow", "canary", "shift", "registered"]
RELEASE_MODES: tuple[str, ...] = ("shadow", "canary", "shift", "registered")
CLASSIFICATION_METRICS: dict[str, bool] = {
    "accuracy": True,
    "f1_macro": True,
    "roc_auc": True,
    "log_loss": False,
}
"""The classifier metrics the gate can compare, and whether higher is better."""
REGRESSION_METRICS: dict[str, bool] = {"mae": False, "rmse": False, "r2": True}
"""The regressor metrics the gate can compare (mae and rmse are errors: lower is better)."""
GATE_METRICS: dict[str, bool] = {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}


def metric_task(metric: str) -> str:
    """The kind of model a gate metric measures: `classification` or `regression`."""
    return "regression" if metric in REGRESSION_METRICS else "classification"


@dataclass(frozen=True, kw_only=True)
class RetrainSettings:
    model_bucket: str
    feedback_bucket: str
    function_name: str
    alias_name: str
    release_table: str = ""
    shadow_config_uri: str = ""
    base_data: str = "sklearn:breast_cancer"
    """`sklearn:<name>` (a built-in data set) or `s3://bucket/key.csv` with `target_column`."""
    target_column: str = "target"
    pipeline: str = "logistic_regression"
    test_size: float = 0.25
    seed: int = 0
    feedback_lookback_days: int = 30
    """How far back the first run (no watermark yet) reads labelled feedback."""
    min_feedback_rows: int = 0
    gate_metric: str = "accuracy"
    """A metric of the production model's kind: accuracy, f1_macro, roc_auc, log_loss for a
    classifier; mae, rmse, r2 for a regressor."""
    gate_margin: float = 0.01
    """The candidate must beat production by at least this much on `gate_metric`, in the metric's
    direction (0: be at least as good)."""
    max_class_share: float = 0.95
    """Sanity (classifiers): no class may take more than this share of the candidate's holdout
    predictions."""
    release_mode: ReleaseMode = "shadow"
    shadow_sample_percent: float = 100.0
    canary_weight: float = 10.0
    canary_bake_seconds: float = 0.0
    business_metric: str = ""
    """The business metric the candidate may not be worse on (retrain/business.py); empty: none."""
    shift_steps: tuple[float, ...] = (50.0, 100.0)
    shift_bake_seconds: float = 300.0
    release_controller: str = ""
    """`shift`: the release controller's state machine ARN (MODELCTL_RELEASE_CONTROLLER)."""

    def __post_init__(self) -> None:
        if self.gate_metric not in GATE_METRICS:
            raise StepError(
                f"RETRAIN_GATE_METRIC {self.gate_metric!r}: choose one of {', '.join(GATE_METRICS)}"
            )
        if self.release_mode not in RELEASE_MODES:
            raise StepError(
                f"RETRAIN_RELEASE {self.release_mode!r}: choose one of {', '.join(RELEASE_MODES)}"
            )
        if not 0 < self.max_class_share <= 1:
            raise StepError(f"RETRAIN_MAX_CLASS_SHARE must be in (0, 1], got {self.max_class_share}")
        if not 0 < self.canary_weight < 100:
            raise StepError(f"RETRAIN_CANARY_WEIGHT must be in (0, 100), got {self.canary_weight}")
        if self.release_mode == "shift" and not self.release_controller:
            raise StepError(
                "RETRAIN_RELEASE shift needs MODELCTL_RELEASE_CONTROLLER (the release controller)"
            )

    @property
    def higher_is_better(self) -> bool:
        return GATE_METRICS[self.gate_metric]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RetrainSettings:
        def text(name: str, default: str = "") -> str:
            return env.get(f"RETRAIN_{name}", default)

        def number(name: str, default: float) -> float:
            raw = text(name)
            try:
                return float(raw) if raw else default
            except ValueError as exc:
                raise StepError(f"RETRAIN_{name} must be a number, got {raw!r}") from exc

        required = {
            "model_bucket": "RETRAIN_MODEL_BUCKET",
            "feedback_bucket": "RETRAIN_FEEDBACK_BUCKET",
            "function_name": "MODELCTL_FUNCTION",
            "alias_name": "MODELCTL_ALIAS",
        }
        missing = [variable for variable in required.values() if not env.get(variable)]
        if missing:
            raise StepError(f"the retraining function lacks {', '.join(missing)} in its environment")
        return cls(
            **{key: env[variable] for key, variable in required.items()},
            release_table=env.get("MODELCTL_RELEASE_TABLE", ""),
            shadow_config_uri=text("SHADOW_CONFIG_URI"),
            base_data=text("BASE_DATA", cls.base_data),
            target_column=text("TARGET_COLUMN", cls.target_column),
            pipeline=text("PIPELINE", cls.pipeline),
            test_size=number("TEST_SIZE", cls.test_size),
            seed=int(number("SEED", cls.seed)),
            feedback_lookback_days=int(number("FEEDBACK_LOOKBACK_DAYS", cls.feedback_lookback_days)),
            min_feedback_rows=int(number("MIN_FEEDBACK_ROWS", cls.min_feedback_rows)),
            gate_metric=text("GATE_METRIC", cls.gate_metric),
            gate_margin=number("GATE_MARGIN", cls.gate_margin),
            max_class_share=number("MAX_CLASS_SHARE", cls.max_class_share),
            release_mode=cast(ReleaseMode, text("RELEASE", cls.release_mode)),
            shadow_sample_percent=number("SHADOW_SAMPLE_PERCENT", cls.shadow_sample_percent),
            canary_weight=number("CANARY_WEIGHT", cls.canary_weight),
            canary_bake_seconds=number("CANARY_BAKE_SECONDS", cls.canary_bake_seconds),
            business_metric=text("BUSINESS_METRIC"),
            shift_steps=_percents(text("SHIFT_STEPS", "50,100")),
            shift_bake_seconds=number("SHIFT_BAKE_SECONDS", cls.shift_bake_seconds),
            release_controller=env.get("MODELCTL_RELEASE_CONTROLLER", ""),
        )


def _percents(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError as exc:
        raise StepError(f"RETRAIN_SHIFT_STEPS must be percentages like 10,50,100, got {text!r}") from exc
