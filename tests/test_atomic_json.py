"""`atomic_write_json` streams its encoding to a temporary sibling: same bytes as `json.dumps`,
and an object that fails half-way through encoding leaves the old file and no temporary."""

import json

import pytest

from reasoning_distill.atomic import atomic_write_json


def test_the_file_holds_what_json_dumps_would_write(tmp_path):
    obj = {"b": [1, 2.5, None, True], "a": {"é": "ü", "n": list(range(50))}}
    for kwargs in ({}, {"indent": None}, {"ensure_ascii": False, "sort_keys": True}):
        path = atomic_write_json(tmp_path / "out.json", obj, **kwargs)
        expect = json.dumps(obj, **{"indent": 2, **kwargs}) + "\n"
        assert path.read_bytes() == expect.encode("utf-8")


@pytest.mark.parametrize(
    "bad, kwargs",
    [({"rows": [1] * 10_000 + [float("nan")]}, {"allow_nan": False}), ({"rows": [object()]}, {})],
)
def test_an_object_that_fails_midway_leaves_the_old_file_and_no_temporary(tmp_path, bad, kwargs):
    target = tmp_path / "results.json"
    target.write_text('{"old": true}\n')
    with pytest.raises((ValueError, TypeError)):
        atomic_write_json(target, bad, **kwargs)
    assert target.read_text() == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
