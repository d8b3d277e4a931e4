from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wcs.rest.http import BadRequest, Params, Request


def test_string_booleans_and_numbers_as_wcs_demo_pages_send_them() -> None:
    p = Params({"hasAudio": "true", "hasVideo": "FALSE", "reg": "Yes", "x": "0", "sipPort": "5060"})
    assert p.bool("hasAudio") is True
    assert p.bool("hasVideo", default=True) is False
    assert p.bool("reg") is True
    assert p.bool("x", default=True) is False
    assert p.int("sipPort", min=1, max=65535) == 5060


def test_real_json_types_are_accepted_too() -> None:
    p = Params({"a": True, "b": 0, "port": 5060, "f": 2.5, "callee": 1002, "ratio": "0.5"})
    assert p.bool("a") is True
    assert p.bool("b", default=True) is False
    assert p.int("port") == 5060
    assert p.float("f") == 2.5
    assert p.float("ratio") == 0.5
    assert p.str("callee") == "1002"  # a number where a string is expected is fine


def test_missing_and_null_fields_get_defaults() -> None:
    p = Params({"n": None, "s": ""})
    assert p.str("missing", default="d") == "d"
    assert p.bool("missing", default=True) is True
    assert p.int("n", default=7) == 7
    assert p.float("missing") is None
    assert p.obj("missing") is None
    assert p.list("missing") is None
    assert p.bool("s", default=True) is True  # "" is "not given" for an optional flag
    assert p.int("s", default=3) == 3


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda p: p.str("callee", required=True), "callee"),
        (lambda p: p.req_str("callee"), "callee"),
        (lambda p: p.str("empty", required=True), "empty"),
        (lambda p: p.bool("word"), "word"),
        (lambda p: p.bool("flag", required=True), "flag"),
        (lambda p: p.int("word"), "word"),
        (lambda p: p.int("big", max=65535), "big"),
        (lambda p: p.int("t"), "t"),
        (lambda p: p.int("frac"), "frac"),
        (lambda p: p.float("word"), "word"),
        (lambda p: p.float("nan"), "nan"),
        (lambda p: p.str("obj"), "obj"),
        (lambda p: p.str("t"), "t"),
        (lambda p: p.str("long", max_len=3), "long"),
        (lambda p: p.obj("word"), "word"),
        (lambda p: p.list("word"), "word"),
    ],
)
def test_bad_or_missing_fields_name_the_field(call: object, field: str) -> None:
    p = Params(
        {
            "empty": "",
            "word": "maybe",
            "big": "70000",
            "t": True,
            "frac": 1.5,
            "nan": "nan",
            "obj": {"a": 1},
            "long": "abcd",
        }
    )
    with pytest.raises(BadRequest) as info:
        call(p)  # type: ignore[operator]
    assert info.value.field == field
    assert info.value.status == 400
    assert field in info.value.message


def test_nested_object_errors_use_a_dotted_name() -> None:
    p = Params({"config": {"rotation": "x"}})
    config = p.obj("config")
    assert config is not None
    with pytest.raises(BadRequest) as info:
        config.int("rotation")
    assert info.value.field == "config.rotation"


def test_repr_shows_names_never_values() -> None:
    p = Params({"sipPassword": "hunter2"})
    assert "hunter2" not in repr(p)
    req = Request("POST", "/x", {"token": "tok"}, body=b'{"sipPassword":"hunter2"}')
    assert "hunter2" not in repr(req)
    assert "tok" not in repr(req)


def test_request_json_empty_invalid_and_non_object() -> None:
    assert Request("GET", "/x").json() == {}
    assert Request("POST", "/x", body=b"  \r\n").json() == {}
    assert Request("POST", "/x", body=b'{"a": "1"}').params().int("a") == 1
    for body in (b"{", b"\xff\xfe", b"[1,2]", b'"s"', b"null", b"1" * 5000):
        with pytest.raises(BadRequest) as info:
            Request("POST", "/x", body=body).json()
        assert info.value.field is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


@given(value=json_values)
def test_any_json_value_gives_a_result_or_bad_request(value: object) -> None:
    p = Params({"f": value})
    for access in (
        lambda: p.str("f", max_len=10),
        lambda: p.bool("f"),
        lambda: p.int("f", min=0, max=65535),
        lambda: p.float("f", min=0.0),
        lambda: p.obj("f"),
        lambda: p.list("f"),
    ):
        try:
            access()
        except BadRequest as exc:
            assert exc.field == "f"
