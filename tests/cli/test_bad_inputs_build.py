"""`rdistill build`: bad inputs and faults, each with its exit code, its one-line message and
proof that nothing already written was lost."""

from __future__ import annotations

import json
import os

import pytest

from reasoning_distill.cli.main import main
from tests.cli._disk import tmpfs
from tests.cli._verify_rows import write_jsonl


def _row(i: int, correct) -> dict:
    return {
        "problem_id": f"p{i}",
        "sample_index": 0,
        "messages": [
            {"role": "system", "content": "Think first."},
            {"role": "user", "content": f"Compute {i}+1."},
        ],
        "completion": f"<think>\n{i}+1={i + 1}\n</think>\n\nThe answer is \\boxed{{{i + 1}}}.",
        "verdict": {"correct": correct, "reason": "ok" if correct is True else "wrong_answer"},
    }


def _build(capsys, *args: str) -> tuple[int, str]:
    code = main(["build", *args])
    err = capsys.readouterr().err.strip()
    return code, err


def _tree(folder) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def rows_file(tmp_path):
    return write_jsonl(tmp_path / "verified.jsonl", [_row(i, i % 2 == 0) for i in range(4)])


def test_out_naming_a_folder_of_the_users_files_is_refused_untouched(tmp_path, rows_file, capsys):
    users = tmp_path / "project"
    users.mkdir()
    (users / "notes.txt").write_text("a week of notes")
    (users / "sub").mkdir()
    (users / "sub" / "data.bin").write_bytes(b"\x00\x01")
    before = _tree(users)
    code, err = _build(capsys, "--input", str(rows_file), "--out", str(users))
    assert code == 2
    assert str(users) in err and "not written by this command" in err
    assert len(err.splitlines()) == 1
    assert _tree(users) == before


def test_out_holding_the_input_is_refused_and_the_input_kept(tmp_path, rows_file, capsys):
    before = rows_file.read_bytes()
    code, err = _build(capsys, "--input", str(rows_file), "--out", str(tmp_path))
    assert code == 2 and str(tmp_path) in err
    assert rows_file.read_bytes() == before


def test_out_naming_a_file_is_refused(tmp_path, rows_file, capsys):
    target = tmp_path / "x.txt"
    target.write_text("keep me")
    code, err = _build(capsys, "--input", str(rows_file), "--out", str(target))
    assert code == 2 and "x.txt" in err
    assert target.read_text() == "keep me"


def test_out_under_a_file_is_refused_before_reading(tmp_path, rows_file, capsys):
    (tmp_path / "f").write_text("x")
    code, err = _build(capsys, "--input", str(rows_file), "--out", str(tmp_path / "f" / "ds"))
    assert code == 2 and "is a file" in err and len(err.splitlines()) == 1


def test_our_own_dataset_is_replaced_and_stale_temporaries_are_cleaned(tmp_path, rows_file, capsys):
    from datasets import load_from_disk

    out = tmp_path / "ds"
    assert _build(capsys, "--input", str(rows_file), "--out", str(out))[0] == 0
    assert len(load_from_disk(str(out))) == 2
    # what a run killed mid-replace leaves: a temporary and a set-aside old copy (dead pid)
    dead = 4_000_000 + os.getpid()
    for tag in ("tmp", "old"):
        stale = tmp_path / f".ds.{tag}-{dead}"
        stale.mkdir()
        (stale / "state.json").write_text("{}")
    code, _ = _build(capsys, "--input", str(rows_file), "--out", str(out), "--keep", "all")
    assert code == 0
    assert len(load_from_disk(str(out))) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "verified.jsonl"]


def test_system_prompt_reaches_the_dataset(tmp_path, rows_file, capsys):
    from datasets import load_from_disk

    out = tmp_path / "ds"
    assert _build(capsys, "--input", str(rows_file), "--out", str(out))[0] == 0
    roles = [m["role"] for m in load_from_disk(str(out))[0]["messages"]]
    assert roles == ["system", "user", "assistant"]


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r["verdict"].update(correct="false"), "verdict.correct must be true or false"),
        (lambda r: r["verdict"].update(correct=1), "verdict.correct must be true or false"),
        (lambda r: r.update(completion=["a", "b"]), "field 'completion' must be a string"),
        (lambda r: r.update(messages="hi"), "field 'messages' must be a list"),
        (lambda r: r.pop("verdict"), "missing field 'verdict'"),
        (lambda r: r.pop("messages"), "missing field 'messages'"),
    ],
)
def test_wrongly_typed_rows_name_the_line_and_field(tmp_path, capsys, mutate, needle):
    bad = _row(1, True)
    mutate(bad)
    src = write_jsonl(tmp_path / "in.jsonl", [_row(0, True), bad])
    code, err = _build(capsys, "--input", str(src), "--out", str(tmp_path / "ds"))
    assert code == 2, err
    assert f"{src}:2" in err and needle in err
    assert not (tmp_path / "ds").exists()


def test_missing_input_and_bad_json(tmp_path, capsys):
    code, err = _build(
        capsys, "--input", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "d")
    )
    assert code == 2 and "nope.jsonl: no such file" in err
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps(_row(1, True)) + "\n{not json\n")
    code, err = _build(capsys, "--input", str(src), "--out", str(tmp_path / "d"))
    assert code == 2 and f"{src}:2" in err
    src.write_bytes(b'{"a": "\xff"}\n')
    code, err = _build(capsys, "--input", str(src), "--out", str(tmp_path / "d"))
    assert code == 2 and f"{src}:1" in err and "UTF-8" in err


def test_nothing_kept_is_an_error(tmp_path, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", [_row(1, False)])
    code, err = _build(capsys, "--input", str(src), "--out", str(tmp_path / "ds"))
    assert code == 2 and "no rows" in err
    assert not (tmp_path / "ds").exists()


# ---------------------------------------------------------------- recipes (`build R.yaml`)

RECIPE = """\
# bad-input tests
#   rdistill build recipe.yaml --root ROOT
# Hardware: a CPU
name: bad_inputs
sources:
  - name: math
    path: problems.jsonl
    fields: {problem: problem, answer: answer, id: id}
teacher:
  engine: hf
  model: MODEL
  options: {batch_size: 8}
  sampling: {n: 2, max_tokens: 8, seed: 3}
verify:
  math: {timeout_s: 5}
select:
  keep: all
dedupe:
  exact: true
  near: null
output:
  dir: out/ds
  parquet: false
"""


def _problems(root, n: int = 6, **override) -> None:
    rows = [{"id": f"q{i}", "problem": f"What is {i} + 4?", "answer": str(i + 4)} for i in range(n)]
    rows[0].update(override)
    (root / "problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _recipe(root, model, *edits: tuple[str, str]):
    text = RECIPE.replace("MODEL", str(model))
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = root / "recipe.yaml"
    path.write_text(text)
    return path


def _one_line(err: str) -> str:
    """The one `rdistill build: error:` line (progress and log lines may precede it)."""
    assert "Traceback" not in err, err
    lines = [x for x in err.splitlines() if x.startswith("rdistill build: error:")]
    assert len(lines) == 1, err
    return lines[0]


def _kept(root, before: dict[str, bytes]) -> bool:
    """Every file the user had is there, unchanged (the build's own work folder aside)."""
    after = _tree(root)
    return {k: after.get(k) for k in before} == before


def _recipe_build(capsys, recipe, root, *args: str) -> tuple[int, str]:
    code = main(["build", str(recipe), "--root", str(root), *args])
    return code, capsys.readouterr().err


# (name, recipe edit, what the line must name, the file it names: "recipe" or a root path)
BAD_RECIPES = [
    ("pass-rate band upside down", ("  keep: all", "  keep: all\n  pass_rate: {min: 0.9, max: 0.1}"),
     "select.pass_rate: min 0.9 is above max 0.1", "recipe"),
    ("top_p true", ("seed: 3}", "seed: 3, top_p: true}"),
     "teacher.sampling.top_p: Input should be a valid number", "recipe"),
    ("n true", ("n: 2,", "n: true,"), "teacher.sampling.n: Input should be a valid integer",
     "recipe"),
    ("seed a string", ("seed: 3}", "seed: '7'}"),
     "teacher.sampling.seed: Input should be a valid integer", "recipe"),
    ("enabled 'no'", ("verify:\n", "verify:\n  format: {enabled: 'no'}\n"),
     "verify.format.enabled: Input should be a valid boolean", "recipe"),
    ("max_tokens negative", ("max_tokens: 8", "max_tokens: -3"), "teacher.sampling.max_tokens",
     "recipe"),
    ("n zero", ("n: 2,", "n: 0,"), "teacher.sampling.n", "recipe"),
    ("batch size zero", ("batch_size: 8", "batch_size: 0"), "teacher.options.batch_size",
     "recipe"),
    ("select max_tokens zero", ("  keep: all", "  keep: all\n  max_tokens: 0"),
     "select.max_tokens", "recipe"),
    ("select k negative", ("  keep: all", "  keep: all\n  k: -1"), "select.k", "recipe"),
    ("near-dedupe ngram zero", ("  near: null", "  near: {ngram: 0}"), "dedupe.near.ngram",
     "recipe"),
    ("empty stop string", ("seed: 3}", "seed: 3, stop: ['']}"),
     "teacher.sampling.stop strings must not be empty", "recipe.yaml" and "none"),
    ("source file missing", ("path: problems.jsonl", "path: gone.jsonl"),
     "sources.0.path: source 'math': no such file or folder", "gone.jsonl"),
    ("chat template missing", ("teacher:\n", "prompt: {chat_template: nope.jinja}\nteacher:\n"),
     "prompt.chat_template: no such file", "nope.jinja"),
    ("decontamination folder missing",
     ("dedupe:\n", "decontaminate: {benchmarks: [gsm8k], data_dir: nowhere}\ndedupe:\n"),
     "decontaminate.data_dir: no such folder", "nowhere"),
    ("decontamination file missing",
     ("dedupe:\n", "decontaminate: {benchmarks: [gsm8k], data_dir: bench}\ndedupe:\n"),
     "decontaminate.data_dir:", "gsm8k_test.jsonl"),
]  # fmt: skip


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "build"])
@pytest.mark.parametrize(
    ("edit", "needle", "names"), [c[1:] for c in BAD_RECIPES], ids=[c[0] for c in BAD_RECIPES]
)
def test_a_bad_recipe_is_refused_before_any_stage(tmp_path, capsys, edit, needle, names, dry_run):
    _problems(tmp_path)
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "notes.txt").write_text("mine")
    recipe = _recipe(tmp_path, tmp_path / "no-such-model", edit)
    before = _tree(tmp_path)
    code, err = _recipe_build(capsys, recipe, tmp_path, *(["--dry-run"] if dry_run else []))
    assert code == 2, err
    line = _one_line(err)
    assert needle in line, line
    if names == "recipe":
        assert f"{recipe}:" in line, line
    elif names != "none":
        assert names in line, line
    assert _tree(tmp_path) == before  # nothing made (no out/, no work folder), nothing lost


def test_a_null_answer_is_called_null_not_missing(tmp_path, capsys):
    _problems(tmp_path, answer=None)
    recipe = _recipe(tmp_path, tmp_path / "no-such-model")
    before = _tree(tmp_path)
    for args in (["--dry-run"], []):
        code, err = _recipe_build(capsys, recipe, tmp_path, *args)
        assert code == 2, err
        line = _one_line(err)
        assert "source 'math' row 1: field 'answer' is null" in line, line
        assert "missing" not in line
    assert _kept(tmp_path, before)


def test_a_null_answer_in_a_decontamination_file_is_called_null(tmp_path, capsys):
    _problems(tmp_path)
    bench = tmp_path / "bench"
    bench.mkdir()
    rows = [{"id": "g0", "question": "How many eggs are left?", "answer": None}]
    (bench / "gsm8k_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = _recipe(
        tmp_path,
        tmp_path / "no-such-model",
        ("dedupe:\n", "decontaminate: {benchmarks: [gsm8k], data_dir: bench}\ndedupe:\n"),
    )
    before = _tree(bench)
    code, err = _recipe_build(capsys, recipe, tmp_path)
    assert code == 2, err
    line = _one_line(err)
    assert "gsm8k_test.jsonl" in line and "field 'answer' is null" in line, line
    assert "is present" not in line
    assert _tree(bench) == before


def test_offline_decontamination_names_the_recipe_key(tmp_path):
    import subprocess
    import sys

    _problems(tmp_path)
    recipe = _recipe(
        tmp_path,
        tmp_path / "no-such-model",
        ("dedupe:\n", "decontaminate: {benchmarks: [gsm8k]}\ndedupe:\n"),
    )
    before = _tree(tmp_path)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(tmp_path.parent / f"{tmp_path.name}-hf-home"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "reasoning_distill.cli.main", "build", str(recipe),
         "--root", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    line = _one_line(proc.stderr)
    assert "decontaminate.data_dir" in line and "gsm8k_test.jsonl" in line, line
    assert "load_benchmark(" not in line
    assert _kept(tmp_path, before)


# (name, flags after `build`, what the line must say); `--samples` names a user's folder
BAD_FLAGS = [
    ("max tokens negative", ["--max-tokens", "-3"], "--max-tokens must be >= 1, got -3"),
    ("max tokens zero", ["--max-tokens", "0"], "--max-tokens must be >= 1, got 0"),
    ("k zero", ["--k", "0"], "--k must be >= 1, got 0"),
    ("pass-rate band upside down", ["--min-pass-rate", "0.9", "--max-pass-rate", "0.1"],
     "--min-pass-rate must be <= --max-pass-rate (0.1), got 0.9"),
    ("max pass rate above one", ["--max-pass-rate", "1.5"], "--max-pass-rate must be in [0, 1]"),
    ("min pass rate negative", ["--min-pass-rate", "-0.1"], "--min-pass-rate must be in [0, 1]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "needle"), [c[1:] for c in BAD_FLAGS], ids=[c[0] for c in BAD_FLAGS]
)
@pytest.mark.parametrize("mode", ["--samples", "recipe"])
def test_bad_selection_flags_are_refused_naming_the_flag(tmp_path, capsys, flags, needle, mode):
    users = tmp_path / "gen"
    users.mkdir()
    (users / "notes.txt").write_text("mine")
    if mode == "--samples":
        argv = ["--samples", str(users), "--out", str(tmp_path / "ds")]
    else:
        _problems(tmp_path)
        argv = [str(_recipe(tmp_path, tmp_path / "no-such-model")), "--root", str(tmp_path)]
    before = _tree(tmp_path)
    code, err = _build(capsys, *argv, *flags)
    assert code == 2, err
    assert needle in _one_line(err)
    assert _tree(tmp_path) == before


def test_a_selection_flag_with_a_recipe_names_the_recipe_key(tmp_path, capsys):
    _problems(tmp_path)
    recipe = _recipe(tmp_path, tmp_path / "no-such-model")
    before = _tree(tmp_path)
    code, err = _build(capsys, str(recipe), "--root", str(tmp_path), "--max-tokens", "100")
    assert code == 2, err
    line = _one_line(err)
    assert "--max-tokens" in line and "select.max_tokens" in line, line
    assert _tree(tmp_path) == before


# ------------------------------------------------ output and work folders that overlap


def _layouts(tmp_path):
    out = tmp_path / "o" / "ds"
    link = tmp_path / "link"
    return {
        "work inside the output": (out, out / "work"),
        "work is the output": (out, out),
        "output inside the work folder": (tmp_path / "w" / "ds", tmp_path / "w"),
        "work inside the output through a symlink": (out, link / "work"),
        "output inside the work folder through a symlink": (link / "ds", tmp_path / "o"),
    }


@pytest.mark.parametrize(
    "layout",
    [
        "work inside the output",
        "work is the output",
        "output inside the work folder",
        "work inside the output through a symlink",
        "output inside the work folder through a symlink",
    ],
)
def test_overlapping_output_and_work_folders_are_refused_before_anything_runs(
    tmp_path, capsys, layout
):
    _problems(tmp_path)
    (tmp_path / "o").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "o" / "ds", target_is_directory=True)
    recipe = _recipe(tmp_path, tmp_path / "no-such-model")
    out, work = _layouts(tmp_path)[layout]
    before = _tree(tmp_path)
    for dry in ([], ["--dry-run"]):
        code, err = _recipe_build(
            capsys, recipe, tmp_path, "--out", str(out), "--work", str(work), *dry
        )
        assert code == 2, err
        line = _one_line(err)
        assert f"--work {work}" in line and str(out) in line and "apart" in line, line
    assert _tree(tmp_path) == before
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == []


@pytest.mark.slow
def test_a_work_folder_inside_a_built_output_is_refused_and_the_output_kept(
    tmp_path, capsys, tiny_model_dir
):
    _problems(tmp_path)
    recipe = _recipe(tmp_path, tiny_model_dir)
    out = tmp_path / "out" / "ds"
    code, err = _recipe_build(capsys, recipe, tmp_path, "--out", str(out))
    assert code == 0, err
    before = _tree(tmp_path)
    code, err = _recipe_build(
        capsys, recipe, tmp_path, "--out", str(out), "--work", str(out / "work")
    )
    assert code == 2, err
    assert "lies inside the output" in _one_line(err)
    assert _tree(tmp_path) == before


def test_a_source_inside_the_output_is_refused(tmp_path, capsys):
    _problems(tmp_path)
    (tmp_path / "out" / "ds").mkdir(parents=True)
    (tmp_path / "problems.jsonl").rename(tmp_path / "out" / "ds" / "problems.jsonl")
    recipe = _recipe(tmp_path, tmp_path / "no-such-model", ("path: problems.jsonl", "path: out/ds/problems.jsonl"))  # fmt: skip
    before = _tree(tmp_path)
    code, err = _recipe_build(capsys, recipe, tmp_path)
    assert code == 2, err
    assert "sources.0.path" in _one_line(err) and "inside the output" in _one_line(err)
    assert _tree(tmp_path) == before


# ------------------------------------------------ --rebuild deletes only what it checked


@pytest.fixture
def built_recipe(tmp_path, capsys, tiny_model_dir):
    """A finished build of RECIPE: (root, recipe path, work folder)."""
    _problems(tmp_path)
    recipe = _recipe(tmp_path, tiny_model_dir)
    code, err = _recipe_build(capsys, recipe, tmp_path)
    assert code == 0, err
    return tmp_path, recipe, tmp_path / "out" / "ds.work"


@pytest.mark.slow
def test_rebuild_on_a_users_generations_folder_deletes_nothing(built_recipe, capsys):
    root, recipe, work = built_recipe
    gen = work / "generations"
    (gen / "manifest.json").unlink()  # now the user's own folder: no store manifest
    (gen / "my_notes.txt").write_text("a week of labelling")
    (gen / "verdicts.manifest.json").unlink()  # and their own verdicts
    text = recipe.read_text().replace("seed: 3}", "seed: 4}")
    recipe.write_text(text)
    before = _tree(root)
    code, err = _recipe_build(capsys, recipe, root, "--rebuild")
    assert code == 2, err
    line = _one_line(err)
    assert str(gen) in line and "left untouched" in line, line
    assert _tree(root) == before


@pytest.mark.slow
def test_rebuild_from_verify_keeps_verdicts_that_are_not_ours(built_recipe, capsys):
    root, recipe, work = built_recipe
    gen = work / "generations"
    (gen / "verdicts.manifest.json").unlink()  # verdicts.jsonl is now the user's
    recipe.write_text(recipe.read_text().replace("timeout_s: 5", "timeout_s: 4"))
    before = _tree(root)
    code, err = _recipe_build(capsys, recipe, root, "--rebuild")
    assert code == 2, err
    line = _one_line(err)
    assert str(gen / "verdicts.jsonl") in line and "not ours" in line, line
    assert _tree(root) == before


@pytest.mark.slow
def test_a_killed_build_and_an_edited_recipe_is_redone_by_rebuild(tmp_path, tiny_model_dir):
    import signal
    import subprocess
    import sys
    import time

    _problems(tmp_path, n=72)  # two chunks of generation: 64 problems, then 8
    recipe = _recipe(tmp_path, tiny_model_dir)
    argv = [sys.executable, "-m", "reasoning_distill.cli.main", "build", str(recipe),
            "--root", str(tmp_path)]  # fmt: skip
    gen = tmp_path / "out" / "ds.work" / "generations"
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not any(p.stat().st_size for p in gen.glob("samples-*.jsonl")):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no sample was written"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the build finished before the kill"
    recipe.write_text(recipe.read_text().replace("seed: 3}", "seed: 4}"))
    kept = _tree(tmp_path)
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2, again.stderr
    line = _one_line(again.stderr)
    assert "stage 'generate' was started" in line and "--rebuild" in line, line
    assert "--redo" not in line
    assert _tree(tmp_path) == kept
    rebuilt = subprocess.run([*argv, "--rebuild"], capture_output=True, text=True, timeout=900)
    assert rebuilt.returncode == 0, rebuilt.stderr
    seeds = {json.loads(x)["sampling"]["seed"] for p in gen.glob("samples-*.jsonl") for x in p.read_text().splitlines()}  # fmt: skip
    assert seeds == {4}


@pytest.mark.slow
def test_an_older_work_folder_killed_in_verify_names_rebuild_and_rebuild_redoes_it(
    built_recipe, capsys
):
    root, recipe, work = built_recipe
    # What a build older than the `started` record leaves when killed while verifying
    stages = json.loads((work / "stages.json").read_text())
    legacy = {"written_by": "reasoning-distill", "stages": {
        k: v for k, v in stages["stages"].items() if k in ("problems", "generate")}}  # fmt: skip
    (work / "stages.json").write_text(json.dumps(legacy))
    recipe.write_text(recipe.read_text().replace("timeout_s: 5", "timeout_s: 4"))
    before = _tree(root)
    code, err = _recipe_build(capsys, recipe, root)
    assert code == 2, err
    line = _one_line(err)
    assert "--rebuild" in line and "--redo" not in line, line
    ours = str((work / "stages.json").relative_to(root))  # rewritten in the current format
    after = _tree(root)
    assert {k: v for k, v in after.items() if k != ours} == {
        k: v for k, v in before.items() if k != ours
    }
    code, err = _recipe_build(capsys, recipe, root, "--rebuild")
    assert code == 0, err
    config = json.loads((work / "generations" / "verdicts.manifest.json").read_text())["config"]
    assert config["math"]["verify_options"]["math_timeout_s"] == 4


# ------------------------------------------------ a full disk names the file


@pytest.fixture()
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root only); skipped where mounting is refused."""
    with tmpfs(tmp_path / "disk", "1m") as mnt:
        yield mnt


def test_a_full_disk_names_the_dataset_being_written_and_keeps_the_old_one(
    tmp_path, small_disk, capsys
):
    out = small_disk / "ds"
    small = write_jsonl(tmp_path / "small.jsonl", [_row(i, True) for i in range(2)])
    assert _build(capsys, "--input", str(small), "--out", str(out))[0] == 0
    old = _tree(out)
    big = [_row(i, True) for i in range(600)]
    for r in big:
        r["completion"] += " padding" * 500  # about 2.4 MB: more than the disk holds
    src = write_jsonl(tmp_path / "big.jsonl", big)
    code, err = _build(capsys, "--input", str(src), "--out", str(out))
    assert code == 2, err
    line = _one_line(err)
    assert "No space left on device" in line and str(out) in line, line
    assert _tree(out) == old


@pytest.mark.slow
def test_a_store_made_with_another_teacher_path_is_redone_by_rebuild(
    tmp_path, capsys, tiny_model_dir
):
    # Two roots whose relative `model` is the same model at another path: the recipe (and its
    # stage hashes) are the same, the store's manifest is not.
    roots = [tmp_path / "a", tmp_path / "b"]
    for root in roots:
        root.mkdir()
        _problems(root, n=4)
        (root / "model").symlink_to(tiny_model_dir, target_is_directory=True)
        recipe = _recipe(root, "model")
    out = tmp_path / "ds"
    code, err = _recipe_build(capsys, roots[0] / "recipe.yaml", roots[0], "--out", str(out))
    assert code == 0, err
    # what a kill in the middle of generation leaves: whole lines of some samples, the stage
    # started and not finished, no verdicts yet
    work = tmp_path / "ds.work"
    gen = work / "generations"
    for shard in gen.glob("samples-*.jsonl"):
        lines = shard.read_text().splitlines(keepends=True)
        shard.write_text("".join(lines[: len(lines) // 2]))
    for name in ("verdicts.jsonl", "verdicts.manifest.json"):
        (gen / name).unlink()
    record = json.loads((work / "stages.json").read_text())
    record["stages"] = {"problems": record["stages"]["problems"]}
    (work / "stages.json").write_text(json.dumps(record))
    recipe = roots[1] / "recipe.yaml"
    code, err = _recipe_build(capsys, recipe, roots[1], "--out", str(out))
    assert code == 2, err
    assert "rerun with --rebuild" in err and "--redo" not in err, err
    code, err = _recipe_build(capsys, recipe, roots[1], "--out", str(out), "--rebuild")
    assert code == 0, err
    manifest = json.loads((gen / "manifest.json").read_text())
    assert str(roots[1] / "model") in json.dumps(manifest)
