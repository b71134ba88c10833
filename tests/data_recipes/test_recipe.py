"""Recipes: every shipped one validates; a bad one is refused naming the key, file and line."""

from __future__ import annotations

import pytest
from reasoning_distill.data_recipes.recipe import load_recipe, parse_recipe, shipped_recipes

from reasoning_distill.errors import ConfigError

GOOD = """\
name: t
sources:
  - name: a
    path: problems.jsonl
    fields: {problem: question, answer: answer}
teacher:
  model: some/model
  sampling: {n: 2}
output:
  dir: out
"""


def test_every_shipped_recipe_validates_and_heads_with_its_command_and_hardware():
    paths = shipped_recipes()
    names = {p.name for p in paths}
    assert {
        "toy_math_code.yaml",
        "gsm8k_r1.yaml",
        "math_r1.yaml",
        "numina_openr1_style.yaml",
        "code_stdio.yaml",
        "mixture_of_thoughts.yaml",
    } <= names
    for p in paths:
        recipe = load_recipe(p)
        head = p.read_text().split("\nname:")[0]
        assert "rdistill build" in head and "Hardware" in head, p.name
        assert recipe.name == p.stem


def test_a_good_recipe_parses_with_defaults():
    r = parse_recipe(GOOD, "r.yaml")
    assert r.teacher.sampling.n == 2 and r.teacher.sampling.temperature == 0.6
    assert "\\boxed{}" in r.prompt.math_template and r.select.keep == "verified"
    assert r.decontaminate.ngram_sizes == [8, 13]


@pytest.mark.parametrize(
    ("edit", "line", "needle"),
    [
        (
            ("    fields: {problem: question, answer: answer}", "    feilds: {problem: question}"),
            5,
            "unknown key 'sources.0.feilds'",
        ),
        (("  sampling: {n: 2}", "  sampling: {n: two}"), 8, "teacher.sampling.n"),
        (("  sampling: {n: 2}", "  sampling: {n: 0}"), 8, "teacher.sampling.n"),
        (
            ("teacher:\n  model: some/model\n", "teacher:\n  engine: hf\n"),
            6,
            "missing field 'teacher.model'",
        ),
        (
            ("output:\n  dir: out\n", "output:\n  dir: out\n  colour: red\n"),
            11,
            "unknown key 'output.colour'",
        ),
        (("    path: problems.jsonl\n", ""), 3, "exactly one of 'hf', 'path' or 'toy'"),
        (
            ("name: t\n", "name: t\ndecontaminate: {benchmarks: [mathh500]}\n"),
            2,
            "unknown benchmark",
        ),
        (("name: t\n", "name: t\nselect: {keep: some}\n"), 2, "select.keep"),
        # strict types: nothing is coerced
        (
            ("  sampling: {n: 2}", "  sampling: {n: true}"),
            8,
            "teacher.sampling.n: Input should be a valid integer",
        ),
        (
            ("  sampling: {n: 2}", "  sampling: {top_p: true}"),
            8,
            "teacher.sampling.top_p: Input should be a valid number",
        ),
        (
            ("  sampling: {n: 2}", "  sampling: {seed: '7'}"),
            8,
            "teacher.sampling.seed: Input should be a valid integer",
        ),
        (
            ("name: t\n", "name: t\nverify: {format: {enabled: 'no'}}\n"),
            2,
            "verify.format.enabled: Input should be a valid boolean",
        ),
        (
            ("  model: some/model\n", "  model: 7\n"),
            7,
            "teacher.model: Input should be a valid string",
        ),
        (
            ("name: t\n", "name: t\nselect: {pass_rate: {min: 0.9, max: 0.1}}\n"),
            2,
            "select.pass_rate: min 0.9 is above max 0.1",
        ),
    ],
)
def test_errors_name_the_key_the_file_and_the_line(edit, line, needle):
    text = GOOD.replace(*edit)
    assert text != GOOD
    with pytest.raises(ConfigError) as e:
        parse_recipe(text, "my/recipe.yaml")
    msg = str(e.value)
    assert msg.startswith(f"my/recipe.yaml:{line}:"), msg
    assert needle in msg, msg


def test_an_int_is_still_a_float_and_yaml_booleans_are_booleans():
    text = GOOD.replace("  sampling: {n: 2}", "  sampling: {n: 2, temperature: 1, top_p: 1}")
    text = text.replace("name: t\n", "name: t\nverify: {format: {enabled: false}}\n")
    r = parse_recipe(text, "r.yaml")
    assert r.teacher.sampling.temperature == 1.0 and r.teacher.sampling.top_p == 1.0
    assert r.verify.format.enabled is False


def test_one_line_names_every_error_so_one_run_shows_what_to_fix():
    with pytest.raises(ConfigError) as e:
        parse_recipe("name: t\n", "r.yaml")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg == (
        "r.yaml:1: missing field 'sources' "
        "(and 2 more: missing field 'teacher'; missing field 'output')"
    )
    bad = GOOD.replace("  sampling: {n: 2}", "  sampling: {n: 0, top_p: 7, bogus: 1}")
    bad = bad.replace("output:\n  dir: out\n", "colour: red\n")
    with pytest.raises(ConfigError) as e:
        parse_recipe(bad, "r.yaml")
    msg = str(e.value)
    assert msg.startswith("r.yaml:8: teacher.sampling.n: ") and "(and 4 more: " in msg
    assert "teacher.sampling.top_p" in msg and "unknown key 'teacher.sampling.bogus'" in msg
    assert msg.endswith("; and 1 more)")  # three named, the fifth counted


def test_yaml_syntax_errors_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match=r"r.yaml:2: not valid YAML"):
        parse_recipe("name: t\nkey: value: other\n", "r.yaml")
    with pytest.raises(ConfigError, match="no such recipe file"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="a recipe is a YAML mapping"):
        parse_recipe("- 1\n- 2\n", "r.yaml")


def test_a_chat_template_with_data_parallel_replicas_is_refused_before_loading(tmp_path):
    from reasoning_distill.data_recipes.teacher import make_teacher_engine

    text = GOOD.replace("  sampling: {n: 2}", "  sampling: {n: 2}\n  options: {data_parallel: 2}")
    text = text.replace("name: t\n", "name: t\nprompt: {chat_template: qwen2_think.jinja}\n")
    with pytest.raises(ConfigError, match="cannot reach data-parallel replicas"):
        make_teacher_engine(parse_recipe(text, "r.yaml"), tmp_path)


def test_the_verdict_store_keeps_no_judge_credentials():
    """A judge URL's user-info and secret query values never reach the verdict store's
    manifest (the recipe keeps them, for the requests)."""
    import json

    from reasoning_distill.data_recipes.pipeline import verdict_config

    path = next(p for p in shipped_recipes() if p.name == "gsm8k_r1.yaml")
    text = path.read_text()
    text = text.replace(
        "  math: {timeout_s: 10}\n",
        "  math: {timeout_s: 10}\n  judge: {model: grader, "
        "base_url: 'http://user:S3CRET@127.0.0.1:9/v1?api_key=K3Y'}\n",
    )
    recipe = parse_recipe(text, "r.yaml")
    assert "S3CRET" in recipe.verify_for("gsm8k").judge.base_url
    config = json.dumps(verdict_config(recipe))
    assert "S3CRET" not in config and "K3Y" not in config
    assert "127.0.0.1:9/v1" in config and '"grader"' in config
