"""Route templates match request paths the way the Functions host's ASP.NET routing does."""

from __future__ import annotations

import azure.functions as func
import pytest

from devhost.triggers_http import compile_route, to_web_response


def _match(template: str, path: str) -> dict[str, str] | None:
    pattern, _, _ = compile_route(template)
    found = pattern.match(path)
    return None if found is None else {k: v for k, v in found.groupdict().items() if v is not None}


def test_a_plain_parameter_captures_one_segment() -> None:
    assert _match("users/{name}", "users/ada") == {"name": "ada"}
    assert _match("users/{name}", "users/ada/extra") is None


def test_constraints_restrict_what_a_parameter_accepts() -> None:
    assert _match("items/{id:int}", "items/42") == {"id": "42"}
    assert _match("items/{id:int}", "items/abc") is None
    assert _match("hello/{name:alpha}", "hello/123") is None
    assert _match("runs/{id:guid}", "runs/3f2504e0-4f89-11d3-9a0c-0305e82c3301") is not None


def test_an_optional_parameter_may_be_left_out() -> None:
    assert _match("orchestrators/{fn}/{id?}", "orchestrators/chain") == {"fn": "chain"}
    assert _match("orchestrators/{fn}/{id?}", "orchestrators/chain/abc") == {"fn": "chain", "id": "abc"}


def test_a_catch_all_takes_the_rest_of_the_path() -> None:
    assert _match("files/{*path}", "files/a/b/c.csv") == {"path": "a/b/c.csv"}
    assert _match("files/{*path}", "files") == {}


def test_literal_segments_match_case_insensitively_and_allow_a_trailing_slash() -> None:
    assert _match("Models/{model}/Retrain", "models/iris/retrain/") == {"model": "iris"}


def test_a_route_with_more_literal_segments_wins_over_a_parameter() -> None:
    from devhost.triggers_http import Route

    def route(template: str) -> Route:
        pattern, literal, catch_all = compile_route(template)
        return Route(None, template, pattern, None, "anonymous", literal, catch_all)  # type: ignore[arg-type]

    ordered = sorted([route("items/{id}"), route("{*any}"), route("items/special")], key=Route.sort_key)
    assert [r.template for r in ordered] == ["items/special", "items/{id}", "{*any}"]


@pytest.mark.parametrize(
    ("returned", "status", "content_type", "body"),
    [
        ("hi", 200, "text/plain", b"hi"),
        ({"a": 1}, 200, "application/json", b'{"a": 1}'),
        (None, 204, None, b""),
        (func.HttpResponse("made", status_code=201, mimetype="text/csv"), 201, "text/csv", b"made"),
    ],
)
def test_return_values_become_responses_as_the_http_output_binding_sends_them(
    returned: object, status: int, content_type: str | None, body: bytes
) -> None:
    response = to_web_response(returned)
    assert response.status == status
    assert (response.body or b"") == body
    if content_type:
        assert response.content_type == content_type
