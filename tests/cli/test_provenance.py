"""Records carry what made them: `verify`, `build` and `eval` refuse a shard or verdicts copied in
from another run (or a hand-edited row), naming the file and row, and leave the folder as it was.

The runs are real `rdistill generate` / `rdistill eval` runs of the tiny model: "another run"
is the same command with another seed, another `--n`, or run in another folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reasoning_distill.cli.main import main
from tests.generation.cli_args import generate_argv, small_sampling

SHARD = "samples-0-00000.jsonl"
PLANTED = "samples-1-00000.jsonl"  # a name the store itself would give a second writer


def _problems(folder: Path) -> Path:
    f = folder / "problems.jsonl"
    rows = [{"id": f"q{i}", "problem": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(3)]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f


@pytest.fixture(scope="module")
def runs(tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    """Generation folders of the same problems: `a` (seed 1, n 2), `seed2` and `n3`."""
    root = tmp_path_factory.mktemp("runs")
    problems = _problems(root)
    out = {}
    for name, seed, extra in (("a", 1, ()), ("seed2", 2, ()), ("n3", 1, ("--n", "3"))):
        out[name] = root / name
        assert main(generate_argv(tiny_model_dir, problems, out[name], *extra, seed=seed)) == 0
    return out


def _copy(runs: dict[str, Path], tmp_path: Path, name: str = "a") -> Path:
    dest = tmp_path / name
    shutil.copytree(runs[name], dest, ignore=shutil.ignore_patterns(".lock*"))
    return dest


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    # Model loading may draw progress bars first; the error itself is one line.
    (line,) = [x for x in err.splitlines() if "error:" in x]
    return line


@pytest.mark.parametrize("other", ["seed2", "n3"])
def test_verify_refuses_a_shard_copied_from_another_run(runs, tmp_path, capsys, other):
    # seed2: same keys, other completions; n3: also a sample index this run never made.
    gen = _copy(runs, tmp_path)
    shutil.copy(runs[other] / SHARD, gen / PLANTED)
    before = _tree(gen)
    assert main(["verify", "--samples", str(gen)]) == 2
    err = _one_line_error(capsys)
    assert f"{gen / PLANTED}:1: the sample was made by another generation run" in err
    assert ("sampling.seed 2, not 1" if other == "seed2" else "sampling.n 3, not 2") in err
    assert _tree(gen) == before and not (gen / "verdicts.jsonl").exists()


def test_generate_does_not_resume_over_a_shard_from_another_run(
    runs, tiny_model_dir, tmp_path, capsys
):
    gen = _copy(runs, tmp_path)
    (gen / SHARD).write_text((gen / SHARD).read_text().splitlines(keepends=True)[0])
    shutil.copy(runs["seed2"] / SHARD, gen / PLANTED)
    before = _tree(gen)
    assert main(generate_argv(tiny_model_dir, _problems(tmp_path), gen, seed=1)) == 2
    assert f"{gen / PLANTED}:1: the sample was made by another" in _one_line_error(capsys)
    assert _tree(gen) == before


def test_a_shard_with_new_sample_indices_is_refused_even_with_the_right_made_by(
    runs, tmp_path, capsys
):
    # The "n3" rows re-stamped with this folder's fingerprint: the index check still holds.
    gen = _copy(runs, tmp_path)
    made_by = json.loads((gen / "manifest.json").read_text())["provenance"]
    rows = [json.loads(line) for line in (runs["n3"] / SHARD).read_text().splitlines()]
    extra = [{**r, "made_by": made_by, "sampling": rows[0]["sampling"] | {"n": 2}} for r in rows]
    extra = [r for r in extra if r["sample_index"] == 2]
    (gen / PLANTED).write_text("".join(json.dumps(r) + "\n" for r in extra))
    assert main(["verify", "--samples", str(gen)]) == 2
    err = _one_line_error(capsys)
    assert f"{gen / PLANTED}:1:" in err and "sample_index 2 is outside n=2" in err


def test_a_hand_edited_model_is_refused(runs, tmp_path, capsys):
    gen = _copy(runs, tmp_path)
    lines = (gen / SHARD).read_text().splitlines()
    row = json.loads(lines[1])
    row["model"] = "someone/else"
    lines[1] = json.dumps(row)
    (gen / SHARD).write_text("\n".join(lines) + "\n")
    assert main(["verify", "--samples", str(gen)]) == 2
    err = _one_line_error(capsys)
    assert f"{gen / SHARD}:2: the sample does not match" in err
    assert "model 'someone/else'" in err


def test_a_row_without_made_by_in_a_folder_with_provenance_is_refused(runs, tmp_path, capsys):
    gen = _copy(runs, tmp_path)
    lines = (gen / SHARD).read_text().splitlines()
    row = json.loads(lines[2])
    del row["made_by"]
    lines[2] = json.dumps(row)
    (gen / SHARD).write_text("\n".join(lines) + "\n")
    assert main(["verify", "--samples", str(gen)]) == 2
    assert f"{gen / SHARD}:3: the sample has no 'made_by'" in _one_line_error(capsys)


def test_verdicts_copied_from_another_run_are_not_reused(runs, tmp_path, capsys):
    gen, other = _copy(runs, tmp_path), _copy(runs, tmp_path, "seed2")
    assert main(["verify", "--samples", str(other)]) == 0
    for name in ("verdicts.jsonl", "verdicts.manifest.json"):
        shutil.copy(other / name, gen / name)
    capsys.readouterr()
    before = _tree(gen)
    assert main(["verify", "--samples", str(gen)]) == 2
    err = _one_line_error(capsys)
    assert f"{gen / 'verdicts.jsonl'}:1: the verdict was made by another generation run" in err
    assert _tree(gen) == before
    assert main(["build", "--samples", str(gen), "--out", str(tmp_path / "ds")]) == 2
    assert f"{gen / 'verdicts.jsonl'}:1:" in _one_line_error(capsys)
    assert not (tmp_path / "ds").exists()


def test_build_refuses_a_shard_copied_in_after_verifying(runs, tmp_path, capsys):
    gen = _copy(runs, tmp_path)
    assert main(["verify", "--samples", str(gen)]) == 0
    shutil.copy(runs["n3"] / SHARD, gen / PLANTED)
    capsys.readouterr()
    before = _tree(gen)
    out = tmp_path / "ds"
    assert main(["build", "--samples", str(gen), "--out", str(out), "--keep", "all"]) == 2
    err = _one_line_error(capsys)
    assert f"{gen / PLANTED}:1: the sample was made by another generation run" in err
    assert not out.exists() and _tree(gen) == before


def test_a_resumed_run_and_its_verdicts_still_count(runs, tiny_model_dir, tmp_path, capsys):
    # A generate killed after two samples (its shard cut there), resumed by the same command.
    gen = _copy(runs, tmp_path)
    lines = (gen / SHARD).read_text().splitlines(keepends=True)
    (gen / SHARD).write_text("".join(lines[:2]))
    assert main(["verify", "--samples", str(gen)]) == 0  # what there is verifies
    problems = _problems(tmp_path)
    assert main(generate_argv(tiny_model_dir, problems, gen, seed=1)) == 0
    assert (gen / "samples-0-00001.jsonl").is_file()
    capsys.readouterr()
    assert main(["verify", "--samples", str(gen)]) == 0
    assert "4 samples verified now, 2 already had a verdict" in capsys.readouterr().out
    assert (
        main(["build", "--samples", str(gen), "--out", str(tmp_path / "ds"), "--keep", "all"]) == 0
    )
    made_by = json.loads((gen / "manifest.json").read_text())["provenance"]
    for name in (SHARD, "samples-0-00001.jsonl", "verdicts.jsonl"):
        rows = [json.loads(line) for line in (gen / name).read_text().splitlines()]
        assert {r["made_by"] for r in rows} == {made_by}


def _as_legacy(folder: Path) -> None:
    """What a version before provenance wrote: no `provenance`, no `made_by`."""
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["provenance"]
    manifest["store_version"] = 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for shard in folder.glob("samples-*.jsonl"):
        rows = [json.loads(line) for line in shard.read_text().splitlines()]
        old_rows = [{k: v for k, v in r.items() if k != "made_by"} for r in rows]
        shard.write_text("".join(json.dumps(r) + "\n" for r in old_rows))


def test_a_folder_from_before_provenance_is_read_and_checked_field_by_field(runs, tmp_path, capsys):
    gen, other = _copy(runs, tmp_path), _copy(runs, tmp_path, "seed2")
    _as_legacy(gen)
    _as_legacy(other)
    assert main(["verify", "--samples", str(gen)]) == 0
    rows = [json.loads(line) for line in (gen / "verdicts.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(r["made_by"] for r in rows)  # new records carry it
    # A shard of another old run still differs from the manifest in its seed.
    shutil.copy(other / SHARD, gen / PLANTED)
    capsys.readouterr()
    assert main(["verify", "--samples", str(gen)]) == 2
    err = _one_line_error(capsys)
    assert f"{gen / PLANTED}:1: the sample does not match" in err and "sampling.seed 2" in err


def test_an_edited_manifest_identity_is_refused(runs, tmp_path, capsys):
    gen = _copy(runs, tmp_path)
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["identity"]["sampling"]["seed"] = 2  # to pass the "seed2" shard off as ours
    (gen / "manifest.json").write_text(json.dumps(manifest))
    assert main(["verify", "--samples", str(gen)]) == 2
    err = _one_line_error(capsys)
    assert f"{gen / 'manifest.json'}: its identity no longer matches its provenance" in err


# ---------------------------------------------------------------- eval


def _eval_argv(model: Path, out: Path, seed: int) -> list[str]:
    return [
        "eval",
        *("--model", f"student={model}", "--benchmark", "toy_math", "--limit", "2"),
        *("--out", str(out)),
        *small_sampling(seed),
    ]


def _generation_folder(out: Path) -> Path:
    (folder,) = [p.parent for p in out.glob("*/generations/*/manifest.json")]
    return folder


def test_eval_refuses_a_cached_shard_from_another_run(tiny_model_dir, tmp_path, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(_eval_argv(tiny_model_dir, one, seed=1)) == 0
    assert main(_eval_argv(tiny_model_dir, two, seed=2)) == 0
    gen = _generation_folder(one)
    shutil.copy(_generation_folder(two) / SHARD, gen / PLANTED)
    capsys.readouterr()
    before = _tree(one)
    assert main(_eval_argv(tiny_model_dir, one, seed=1)) == 2
    err = _one_line_error(capsys)
    assert f"{gen / PLANTED}:1: the sample was made by another generation run" in err
    assert _tree(one) == before


def test_eval_refuses_cached_verdicts_from_another_run(tiny_model_dir, tmp_path, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(_eval_argv(tiny_model_dir, one, seed=1)) == 0
    assert main(_eval_argv(tiny_model_dir, two, seed=2)) == 0
    gen, other = _generation_folder(one), _generation_folder(two)
    for path in other.glob("verdicts-*"):
        shutil.copy(path, gen / path.name)
    capsys.readouterr()
    assert main(_eval_argv(tiny_model_dir, one, seed=1)) == 2
    err = _one_line_error(capsys)
    assert "verdicts-" in err and ".jsonl:1: the verdict was made by another generation run" in err
