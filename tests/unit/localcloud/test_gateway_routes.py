"""The local gateway's routes: `{name}` segments become the event's pathParameters, as on API Gateway."""

from __future__ import annotations

from localcloud.gateway import Route, _compile


def route(path: str) -> Route:
    return Route(
        path=path,
        method="GET",
        function="f",
        qualifier="$LATEST",
        api_key_required=True,
        pattern=_compile(path),
    )


def test_path_parameters_are_named_and_url_decoded() -> None:
    lookup = route("/predictions/{id}")
    assert lookup.matches("GET", "/predictions/c-001")
    assert lookup.path_parameters("/predictions/c-001") == {"id": "c-001"}
    assert lookup.path_parameters("/predictions/10%2C12.5") == {"id": "10,12.5"}
    assert not lookup.matches("GET", "/predictions/a/b")
    assert not lookup.matches("GET", "/predictions")


def test_greedy_parameters_and_plain_paths() -> None:
    assert route("/files/{key+}").path_parameters("/files/a/b.csv") == {"key": "a/b.csv"}
    assert route("/predict").path_parameters("/predict") is None
