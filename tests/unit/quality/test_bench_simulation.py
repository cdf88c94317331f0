"""The quality gate's simulation (bench/quality_gate.py) runs and is deterministic on a few seeds."""

from __future__ import annotations

from bench.quality_gate import draw, simulate


def test_streams_are_cumulative_and_reproducible() -> None:
    streams = draw(3, 0.9, 0.85, weight=0.1, batch=100, budget=1_000)
    assert streams.labels.shape == (3, 10)
    assert (streams.n_primary + streams.n_new == streams.labels).all()
    assert (streams.correct_new <= streams.n_new).all()
    again = draw(3, 0.9, 0.85, weight=0.1, batch=100, budget=1_000)
    assert (again.correct_primary == streams.correct_primary).all()


def test_simulation_reports_the_issue_figures() -> None:
    figures = simulate(seeds=10)
    assert 0.0 <= figures["power"] <= 1.0
    assert 0.0 <= figures["false_rollback_rate"] <= 1.0
    assert figures["settings"]["seeds"] == 10
    assert figures == simulate(seeds=10)


def test_a_shift_moves_the_weight_between_checks_and_keeps_the_error_rates() -> None:
    from bench.quality_gate import shift_weights

    weights = shift_weights(budget=3_000, batch=100)
    assert list(weights[:10]) == [0.1] * 10 and list(weights[-10:]) == [0.5] * 10
    streams = draw(200, 0.9, 0.9, weight=weights, batch=100, budget=3_000)
    share_late = (streams.n_new[:, -1] - streams.n_new[:, -11]) / 1_000
    assert abs(float(share_late.mean()) - 0.5) < 0.01
    shift = simulate(seeds=200)["shift"]
    assert shift["false_rollback_rate"] <= 0.05 and shift["at_margin_advance_rate"] <= 0.05
    assert shift["power"] >= 0.95
