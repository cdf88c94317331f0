"""Logged live predictions joined with ground-truth feedback by request id and row.

The contract other parts build on (the retraining workflow reads labelled live traffic through it):

    labelled_predictions(s3, bucket, *, since, until) -> Iterator[LabelledPrediction]

`bucket` is the prediction log bucket (the shadow stack's `LogBucketName`); `since`/`until` bound the
request time of the predictions (UTC, until exclusive). Feedback received until now is considered.
The implementation lives in `common.observe.label_join`, so Lambda bundles, which carry
`functions/common`, import the same code.
"""

from __future__ import annotations

from common.observe.label_join import (
    JoinStats,
    LabelledPrediction,
    joined_rows,
    labelled_predictions,
    read_feedback,
)

__all__ = ["JoinStats", "LabelledPrediction", "joined_rows", "labelled_predictions", "read_feedback"]
