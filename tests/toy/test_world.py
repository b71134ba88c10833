"""The toy teacher: built once, cached by recipe hash, never reused when incomplete or corrupt."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from reasoning_distill.toy.tasks import TASKS_VERSION
from reasoning_distill.toy.world import TeacherRecipe, check_teacher, get_teacher
from tests.toy.tiny_teacher import TINY


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return cache, get_teacher(TINY, cache_dir=cache)


def test_build_trains_and_records(built):
    cache, teacher = built
    assert teacher.path.parent == cache / "toy-teacher"
    assert teacher.path.name == TINY.key()
    meta = json.loads((teacher.path / "world.json").read_text())
    assert meta["final_loss"] < meta["first_loss"]  # the loop really trained
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(meta["files"])
    assert check_teacher(teacher.path, TINY) is None
    # No temporary build folder left behind.
    assert [p.name for p in teacher.path.parent.iterdir()] == [TINY.key()]


def test_reload_from_cache_without_rebuilding(built):
    cache, teacher = built
    stamp = (teacher.path / "model.safetensors").stat().st_mtime_ns
    again = get_teacher(TINY, cache_dir=cache)
    assert again.path == teacher.path
    assert (again.path / "model.safetensors").stat().st_mtime_ns == stamp


def test_teacher_loads_with_transformers(built):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, teacher = built
    tok = AutoTokenizer.from_pretrained(teacher.path)
    model = AutoModelForCausalLM.from_pretrained(teacher.path)
    assert model.config.vocab_size == len(tok)
    assert "{% generation %}" in tok.chat_template
    assert tok.padding_side == "left"


def test_another_recipe_gets_another_key():
    assert replace(TINY, steps=9).key() != TINY.key()


def test_changed_tasks_get_another_teacher():
    # A teacher cached before the task generator changed must not be reused for new tasks.
    assert TeacherRecipe().tasks_version == TASKS_VERSION
    assert replace(TINY, tasks_version=TASKS_VERSION - 1).key() != TINY.key()


def test_corrupt_cache_is_rebuilt(tmp_path, caplog):
    first = get_teacher(TINY, cache_dir=tmp_path)
    weights = first.path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated, as after a crash mid-copy
    assert "model.safetensors" in check_teacher(first.path, TINY)
    with caplog.at_level("WARNING"):
        second = get_teacher(TINY, cache_dir=tmp_path)
    assert "rebuilding" in caplog.text
    assert check_teacher(second.path, TINY) is None


def test_half_written_entry_is_not_reused(tmp_path):
    folder = tmp_path / "toy-teacher" / TINY.key()
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")  # an interrupted build: no manifest
    assert "missing" in check_teacher(folder, TINY)
    teacher = get_teacher(TINY, cache_dir=tmp_path)
    assert check_teacher(teacher.path, TINY) is None
