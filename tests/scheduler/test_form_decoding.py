"""The protocol path's decoding of the form-encoded ``data`` field (scheduler.asgi)."""

import json
import random
from urllib.parse import parse_qs, urlencode

import pytest

from scheduler.asgi import data_field


def parse_qs_data(encoded: bytes) -> str | None:
    found = parse_qs(encoded.decode("utf-8"), keep_blank_values=True).get("data")
    return found[0] if found else None


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (b"", None),
        (b"data", ""),
        (b"data=", ""),
        (b"data=%7B%7D", "{}"),
        (b"data=%7b%7d", "{}"),  # lower-case escapes
        (b"data=a+b%2Bc", "a b+c"),  # "+" is a space, "%2B" a plus
        (b"data=%3D%26%25", "=&%"),
        (b"data=%C3%A9%E2%82%AC", "é€"),
        (b"data=%FF", "\ufffd"),  # not UTF-8 once decoded: replaced, as parse_qs does
        (b"data=%zz%4", "%zz%4"),  # not escapes: kept as they are
        (b"data=a=b", "a=b"),
        (b"data=x&data=y", "x"),  # the first of several
        (b"other=1&data=2", "2"),
        (b"other=1", None),
        ("data=é".encode(), "é"),  # raw UTF-8
    ],
)
def test_data_field_decodes_as_parse_qs_does(encoded, expected):
    assert data_field(encoded) == expected
    assert parse_qs_data(encoded) == expected


def test_a_body_that_is_not_utf8_is_an_error_as_before():
    with pytest.raises(UnicodeDecodeError):
        data_field(b"data=\xff")


def test_data_field_agrees_with_parse_qs_on_random_bodies():
    rng = random.Random(20261206)
    pieces = [*'aZ09_.-~+%=&;\n\r\t é\x00"{}[]:,/?#', "%2", "%zz", "%e9", "%C3%A9", "%FF", "%3D"]
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        for encoded in (("data=" + text).encode(), urlencode({"data": text}).encode()):
            assert data_field(encoded) == parse_qs_data(encoded), encoded


def test_a_luigi_worker_payload_round_trips():
    payload = {
        "worker": "w1",
        "task_id": "Leaf_1_9f2c",
        "params": {"path": "/data/2026-12-06 a+b=c&d%", "name": "Ünïcode €"},
        "deps": ["Dep_0"],
        "priority": 1.5,
    }
    encoded = urlencode({"data": json.dumps(payload)}).encode()
    assert json.loads(data_field(encoded)) == payload
