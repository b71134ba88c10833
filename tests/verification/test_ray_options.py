"""The ways into Ray verification refuse bad input in one line before any work (no cluster
is started here): the CLI's flags, an unreachable address, Ray missing, and the recipe key."""

from __future__ import annotations

import sys

import pytest

from reasoning_distill.cli.main import main
from reasoning_distill.errors import ConfigError
from tests.cli._verify_rows import make_store, mixed_samples
from tests.loopback import closed_port


def _verify(capsys, *args: str) -> tuple[int, str]:
    code = main(["verify", *args])
    return code, capsys.readouterr().err.strip()


def test_address_without_ray_is_refused(tmp_path, capsys):
    store = make_store(tmp_path / "gen", mixed_samples())
    code, err = _verify(capsys, "--samples", str(store), "--address", "127.0.0.1:6379")
    assert code == 2 and "--address is the Ray cluster of --ray: add --ray" in err
    assert len(err.splitlines()) == 1 and not (store / "verdicts.jsonl").exists()


def test_an_unreachable_cluster_is_one_line_and_nothing_is_written(tmp_path, capsys):
    store = make_store(tmp_path / "gen", mixed_samples())
    address = f"127.0.0.1:{closed_port()}"
    code, err = _verify(capsys, "--samples", str(store), "--ray", "--address", address)
    assert code == 2 and f"cannot reach the Ray cluster at {address}" in err
    assert "ray start --head" in err and len(err.splitlines()) == 1
    assert "Traceback" not in err and not (store / "verdicts.jsonl").exists()


def test_ray_not_installed_says_what_to_install(monkeypatch):
    from reasoning_distill.generation.ray_job import connect

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(
        ConfigError, match=r"Ray is not installed: pip install 'reasoning-distill\[ray\]'"
    ):
        connect(None)


def test_the_recipe_key_runs_nowhere_but_the_top_level_and_changes_no_hash():
    from reasoning_distill.data_recipes.recipe import Recipe

    base = dict(name="x", sources=[{"name": "s", "path": "a.jsonl"}],
                teacher={"engine": "hf", "model": "m"}, output={"dir": "o"})  # fmt: skip
    on_ray = Recipe.model_validate({**base, "verify": {"ray": {"address": "h:6379", "actors": 3}}})
    assert (on_ray.verify.ray.address, on_ray.verify.ray.actors) == ("h:6379", 3)
    # where verification runs is not what a verdict means: no stage is redone for it
    assert on_ray.stage_hash("verify") == Recipe.model_validate(base).stage_hash("verify")
    per_source = {**base, "sources": [{"name": "s", "path": "a", "verify": {"ray": {}}}]}
    with pytest.raises(ValueError, match="top-level verify section only"):
        Recipe.model_validate(per_source)
    with pytest.raises(ValueError, match="actors"):
        Recipe.model_validate({**base, "verify": {"ray": {"actors": 0}}})
