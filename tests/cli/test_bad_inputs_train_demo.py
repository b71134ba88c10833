"""`rdistill train` and `rdistill demo` bad inputs: one line, exit 2 (or check's 1), no
traceback, and nothing already there touched."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli._rdistill import rdistill as _rdistill
from tests.loopback import JSONHandler, closed_port, loopback_server, model_list, serving
from tests.training.training_fixtures import *  # noqa: F403  (tiny_model_dir, train_rows)


class _NotVLLM(JSONHandler):
    """Lists the model `teacher`, then answers completions without `prompt_logprobs`."""

    def do_GET(self):
        self.send_body({"object": "list", "data": [{"id": "teacher", "object": "model"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_body({"id": "x", "choices": [{"text": "!", "index": 0}]})


@pytest.fixture(scope="module")
def not_vllm_url():
    """A real server on 127.0.0.1 whose replies lack the prompt log-probs; stopped after."""
    with serving(_NotVLLM, "/v1") as url:
        yield url


@pytest.fixture(scope="module")
def raising_template_model_dir(tmp_path_factory, tiny_model_dir):
    """The tiny student with a template that indexes `content.split('</think>')[1]`: it
    raises on any assistant turn without a think block (as the check's probe has)."""
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("raising_template") / "model"
    shutil.copytree(tiny_model_dir, path)
    tok = AutoTokenizer.from_pretrained(path)
    body = "{{ message['content'] }}"
    assert body in tok.chat_template
    tok.chat_template = tok.chat_template.replace(
        body, "{{ message['content'].split('</think>')[1].strip() }}"
    )
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def other_tokenizer_cache(tmp_path_factory, other_vocab_model_dir, train_rows):
    """A real top-k cache of the same rows, built with another model's tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reasoning_distill.training.teachers.cache import build_topk_cache
    from reasoning_distill.training.teachers.local import HFTeacher

    tok = AutoTokenizer.from_pretrained(other_vocab_model_dir)
    model = AutoModelForCausalLM.from_pretrained(other_vocab_model_dir)
    folder = tmp_path_factory.mktemp("other_cache") / "cache"
    build_topk_cache(HFTeacher(model, k=4), tok, train_rows[:4], folder, "other")
    return folder


@pytest.fixture
def world(
    tmp_path,
    tiny_model_dir,
    train_rows,
    other_vocab_model_dir,
    raising_template_model_dir,
    other_tokenizer_cache,
    not_vllm_url,
):
    from datasets import Dataset

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in train_rows[:8]))
    (tmp_path / "afile").write_text("keep me")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("keep me")
    (tmp_path / "bad.yaml").write_text("max_steps: [1, 2\n")
    (tmp_path / "unknown.yaml").write_text("no_such_field_anywhere: 3\n")
    (tmp_path / "bad_row.jsonl").write_text('{"messages": "not a list"}\n')
    # folders of the user's that merely hold names a run also writes
    for name in ("user_final/final/mine.txt", "user_log/train_log.json",
                 "user_ckpt/checkpoint-1/config.json"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True)
        (tmp_path / name).write_text("keep me")
    base = {"model_name_or_path": str(tiny_model_dir), "dataset_name": str(data)}
    (tmp_path / "neg.yaml").write_text(json.dumps({**base, "max_length": -5}))
    (tmp_path / "booly.yaml").write_text(json.dumps({**base, "max_steps": True}))
    (tmp_path / "empty_ds").mkdir()
    Dataset.from_list([{"messages": []}]).select([]).save_to_disk(str(tmp_path / "zero_ds"))
    (tmp_path / "mixed.jsonl").write_text(
        json.dumps(train_rows[0]) + "\n" + json.dumps({"messages": "hello"}) + "\n"
    )
    users_only = [{"messages": r["messages"][:1]} for r in train_rows[:4]]
    (tmp_path / "no_assistant.jsonl").write_text("".join(json.dumps(r) + "\n" for r in users_only))
    (tmp_path / "bad_cache").mkdir()
    (tmp_path / "bad_cache" / "manifest.json").write_text("{not json")
    w = {"tmp": tmp_path, "model": str(tiny_model_dir), "data": str(data)}
    w.update(
        other=str(other_vocab_model_dir),
        raising=str(raising_template_model_dir),
        other_cache=str(other_tokenizer_cache),
        closed_url=f"http://127.0.0.1:{closed_port()}/v1",
        not_vllm_url=not_vllm_url,
    )
    w["before"] = _files(tmp_path)
    return w


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _sft(w, *extra, out="run", model=None, data=None):
    return ["train", "sft", "--model_name_or_path", model or w["model"],
            "--dataset_name", str(w["tmp"] / data) if data else w["data"],
            "--output_dir", str(w["tmp"] / out), "--max_steps", "1", *extra]  # fmt: skip


def _on(w, dataset, *extra):
    return _sft(w, *extra, data=dataset)


def _rkl(w, *extra, out="rkl", data=None):
    return ["train", "rkl", "--model_name_or_path", w["model"],
            "--dataset_name", str(w["tmp"] / data) if data else w["data"],
            "--output_dir", str(w["tmp"] / out), "--max_steps", "1",
            "--per_device_train_batch_size", "4", "--save_strategy", "no", *extra]  # fmt: skip


SKIP = ("--skip_check", "true")

CASES = [
    ("config missing", lambda w: ["train", "sft", "--config", str(w["tmp"] / "nope.yaml")], 2, "nope.yaml"),
    ("config not YAML", lambda w: ["train", "sft", "--config", str(w["tmp"] / "bad.yaml")], 2, "bad.yaml"),
    ("unknown config key", lambda w: ["train", "sft", "--config", str(w["tmp"] / "unknown.yaml")], 2, "no_such_field_anywhere"),
    ("negative learning rate", lambda w: _sft(w, "--learning_rate", "-1"), 2, "learning_rate"),
    ("model folder missing", lambda w: ["train", "sft", "--model_name_or_path", str(w["tmp"] / "nomodel"), "--dataset_name", w["data"], "--output_dir", str(w["tmp"] / "run")], 2, "nomodel"),
    ("dataset missing", lambda w: ["train", "sft", "--model_name_or_path", w["model"], "--dataset_name", str(w["tmp"] / "nodata.jsonl"), "--output_dir", str(w["tmp"] / "run")], 2, "nodata.jsonl"),
    ("output is a file", lambda w: _sft(w, out="afile"), 2, "afile"),
    ("output holds other files", lambda w: _sft(w, out="foreign"), 2, "foreign"),
    ("rkl without a teacher", lambda w: ["train", "rkl", "--model_name_or_path", w["model"], "--dataset_name", w["data"], "--output_dir", str(w["tmp"] / "rkl")], 2, "teacher"),
    # a folder is ours only by our marker: final/, train_log.json or checkpoint-N are not one
    ("output holds a user's final/", lambda w: _sft(w, *SKIP, out="user_final"), 2, "user_final"),
    ("output holds a user's train_log.json", lambda w: _sft(w, *SKIP, out="user_log"), 2, "user_log"),
    ("resume into a user's folder", lambda w: _sft(w, "--resume", "true", out="user_ckpt"), 2, "user_ckpt"),
    ("rkl into a user's final/", lambda w: _rkl(w, "--teacher", w["model"], out="user_final"), 2, "user_final"),
    # lengths and counts: positive, of their type
    ("negative max_length in a recipe", lambda w: ["train", "sft", "--config", str(w["tmp"] / "neg.yaml"), *SKIP, "--output_dir", str(w["tmp"] / "run")], 2, "max_length"),
    ("max_length 0 as a flag", lambda w: _sft(w, "--max_length", "0", *SKIP), 2, "max_length"),
    ("a bool for max_steps", lambda w: ["train", "sft", "--config", str(w["tmp"] / "booly.yaml"), "--output_dir", str(w["tmp"] / "run")], 2, "max_steps"),
    ("rkl top_k 0", lambda w: _rkl(w, "--teacher", w["model"], "--top_k", "0"), 2, "top_k"),
    # the data
    ("dataset folder empty", lambda w: _on(w, "empty_ds"), 2, "empty_ds"),
    ("dataset folder empty, check skipped", lambda w: _on(w, "empty_ds", *SKIP), 2, "empty_ds"),
    ("dataset saved with no rows", lambda w: _on(w, "zero_ds", *SKIP), 2, "no rows"),
    ("messages of mixed types", lambda w: _on(w, "mixed.jsonl", *SKIP), 2, "mixed.jsonl:2"),
    ("messages not a list", lambda w: _on(w, "bad_row.jsonl"), 2, "bad_row.jsonl:1"),
    ("no assistant turns", lambda w: _on(w, "no_assistant.jsonl"), 2, "no assistant turn"),
    ("no assistant turns, check skipped", lambda w: _on(w, "no_assistant.jsonl", *SKIP), 2, "no assistant turn"),
    ("rkl: no assistant turns", lambda w: _rkl(w, "--teacher", w["model"], *SKIP, data="no_assistant.jsonl"), 2, "no assistant turn"),
    # the pre-flight refuses: exit 2, like every other refusal of a training command
    ("pre-flight refuses", lambda w: _sft(w, "--max_length", "4096"), 2, "pre-flight"),
    ("template raises, pre-flight", lambda w: _sft(w, model=w["raising"]), 2, "pre-flight"),
    ("template raises, check skipped", lambda w: _sft(w, *SKIP, model=w["raising"]), 2, "no element 1"),
    # the teacher
    ("vocabulary mismatch, check skipped", lambda w: _rkl(w, "--teacher", w["other"], *SKIP), 2, "vocabularies differ"),
    ("cache manifest not JSON", lambda w: _rkl(w, "--teacher_cache", str(w["tmp"] / "bad_cache"), *SKIP), 2, "manifest.json"),
    ("cache of another tokenizer", lambda w: _rkl(w, "--teacher_cache", w["other_cache"], *SKIP), 2, "another tokenisation"),
    ("served teacher unreachable", lambda w: _rkl(w, "--teacher_url", w["closed_url"], "--teacher_name", "teacher", *SKIP), 2, "cannot reach"),
    ("served teacher not serving the name", lambda w: _rkl(w, "--teacher_url", w["not_vllm_url"], "--teacher_name", "nope", *SKIP), 2, "'nope'"),
    ("served teacher's reply malformed", lambda w: _rkl(w, "--teacher_url", w["not_vllm_url"], "--teacher_name", "teacher", *SKIP), 2, "prompt_logprobs"),
    ("demo out is a file", lambda w: ["demo", "--quick", "--out", str(w["tmp"] / "afile")], 2, "afile"),
    ("demo out under a file", lambda w: ["demo", "--quick", "--out", str(w["tmp"] / "afile" / "x")], 2, "afile"),
]  # fmt: skip


@pytest.mark.parametrize("argv, code, needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(world, argv, code, needle):
    proc = _rdistill(*argv(world))
    assert proc.returncode == code, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert errors and needle in errors[-1], proc.stderr[-2000:]
    assert (world["tmp"] / "afile").read_text() == "keep me"
    assert (world["tmp"] / "foreign" / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in (world["tmp"] / "foreign").iterdir()) == ["notes.txt"]
    # every file there before is as it was, and the user's folders gained nothing
    after = _files(world["tmp"])
    assert {k: after.get(k) for k in world["before"]} == world["before"]
    users = ("user_final", "user_log", "user_ckpt", "foreign", "bad_cache", "empty_ds")
    new = [k for k in after if k not in world["before"] and k.startswith(users)]
    assert not new, new


# ---- `rdistill train cache` (the teacher's top-k cache) -------------------------------------


def _cache(w, *extra, out="cache", teacher=None, data=None, tokenizer=None):
    data = str(w["tmp"] / data) if data else w["data"]
    tokenizer = str(w["tmp"] / tokenizer) if tokenizer else w["model"]
    return ["train", "cache", "--teacher", teacher or w["teacher"], "--tokenizer", tokenizer,
            "--dataset_name", data, "--output_dir", str(w["tmp"] / out), "--top_k", "4",
            *extra]  # fmt: skip


def _served(w, url, *extra):
    return ["train", "cache", "--teacher_url", url, "--teacher_name", "teacher", "--tokenizer",
            w["model"], "--dataset_name", w["data"], "--output_dir", str(w["tmp"] / "cache"),
            "--top_k", "4", *extra]  # fmt: skip


_VLLM = ("--teacher_engine", "vllm")
CACHE_CASES = [
    ("top_k 0", lambda w: _cache(w, "--top_k", "0"), "--top_k must be >= 1"),
    ("top_k not a number", lambda w: _cache(w, "--top_k", "many"), "--top_k"),
    ("batch_size 0", lambda w: _cache(w, "--batch_size", "0"), "--batch_size must be >= 1"),
    ("max_length negative", lambda w: _cache(w, "--max_length", "-5"), "--max_length must be >= 2"),
    ("temperature 0", lambda w: _cache(w, "--temperature", "0"), "--temperature"),
    ("bits 7", lambda w: _cache(w, "--bits", "7"), "--bits"),
    ("step 0", lambda w: _cache(w, "--step", "0"), "--step"),
    ("no teacher", lambda w: _cache(w)[:2] + _cache(w)[4:], "exactly one of --teacher"),
    ("teacher missing", lambda w: _cache(w, teacher=str(w["tmp"] / "noteacher")), "noteacher"),
    ("teacher not a model", lambda w: _cache(w, teacher=str(w["tmp"] / "foreign")), "config.json missing"),
    ("tokenizer missing", lambda w: _cache(w, tokenizer="no/such/tok"), "--tokenizer"),
    ("teacher config unreadable", lambda w: _cache(w, teacher=str(w["tmp"] / "broken")), "broken: transformers cannot load it"),
    ("dataset missing", lambda w: _cache(w, data="nodata.jsonl"), "nodata.jsonl"),
    ("dataset row not messages", lambda w: _cache(w, data="bad_row.jsonl"), "bad_row.jsonl:1: 'messages' must be a list"),
    ("output holds the user's files", lambda w: _cache(w, out="foreign"), "foreign: folder exists, is not empty"),
    ("output is a file", lambda w: _cache(w, out="afile"), "afile"),
    ("output holds the user's manifest.json", lambda w: _cache(w, out="theirs"), "theirs/manifest.json: not a top-k cache's manifest"),
    ("vLLM option without vLLM", lambda w: _cache(w, "--max_model_len", "64"), "--teacher_engine vllm"),
    ("gpu_memory_utilization 1.5", lambda w: _cache(w, *_VLLM, "--gpu_memory_utilization", "1.5"), "--gpu_memory_utilization must be in (0, 1]"),
    ("gpu_memory_utilization 0", lambda w: _cache(w, *_VLLM, "--gpu_memory_utilization", "0"), "--gpu_memory_utilization"),
    ("tensor_parallel_size 0", lambda w: _cache(w, *_VLLM, "--tensor_parallel_size", "0"), "--tensor_parallel_size must be >= 1"),
    ("max_model_len 1", lambda w: _cache(w, *_VLLM, "--max_model_len", "1"), "--max_model_len must be >= 2"),
    ("dtype unknown", lambda w: _cache(w, *_VLLM, "--dtype", "float8"), "--dtype"),
    ("url without a name", lambda w: _served(w, "http://127.0.0.1:1/v1")[:4] + _served(w, "x")[6:], "--teacher_name"),
    ("url unreachable", lambda w: _served(w, f"http://127.0.0.1:{closed_port()}/v1"), "is the server up"),
    ("url not http", lambda w: _served(w, "ftp://127.0.0.1/v1"), "not an http(s) URL"),
]  # fmt: skip


@pytest.fixture
def cache_world(world, sharp_teacher_dir):
    theirs = world["tmp"] / "theirs"  # a project of the user's with its own manifest.json
    theirs.mkdir()
    (theirs / "manifest.json").write_text('{"name": "my project"}\n')
    (world["tmp"] / "broken").mkdir()  # a "checkpoint" whose config.json is no model's
    (world["tmp"] / "broken" / "config.json").write_text("{}\n")
    return {**world, "teacher": str(sharp_teacher_dir)}


def _one_line_exit_2(proc, needle):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and needle in errors[0], proc.stderr[-2000:]


@pytest.mark.parametrize(
    "argv, needle", [c[1:] for c in CACHE_CASES], ids=[c[0] for c in CACHE_CASES]
)
def test_cache_bad_input_is_one_line(cache_world, argv, needle):
    w = cache_world
    _one_line_exit_2(_rdistill(*argv(w)), needle)
    assert (w["tmp"] / "afile").read_text() == "keep me"
    assert sorted(p.name for p in (w["tmp"] / "foreign").iterdir()) == ["notes.txt"]
    assert (w["tmp"] / "foreign" / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in (w["tmp"] / "theirs").iterdir()) == ["manifest.json"]
    assert (w["tmp"] / "theirs" / "manifest.json").read_text() == '{"name": "my project"}\n'
    assert not (w["tmp"] / "cache").exists()  # refused before anything was written


@pytest.mark.parametrize(
    "status, body, needle",
    [
        (404, "<html>Not Found</html>", "answered HTTP 404 (text/html"),
        (200, model_list("teacher", owned_by="openai"), "not 'vllm'"),
    ],
    ids=["web page", "openai-compatible"],
)
def test_cache_teacher_url_not_vllm_is_one_line_saying_what_answered(
    cache_world, status, body, needle
):
    with loopback_server(status, body) as url:
        proc = _rdistill(*_served(cache_world, f"{url}/v1"))
    _one_line_exit_2(proc, needle)
    assert "not a vLLM server" in proc.stderr or "not 'vllm'" in proc.stderr
    assert not (cache_world["tmp"] / "cache").exists()


def test_cache_builds_resumes_refuses_changes_and_rebuilds_damaged_shards(cache_world):
    w = cache_world
    folder = w["tmp"] / "cache"
    proc = _rdistill(*_cache(w))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["sequences"] == 8
    manifest = (folder / "manifest.json").read_bytes()
    # changed settings on resume: named field by field, nothing written
    _one_line_exit_2(_rdistill(*_cache(w, "--top_k", "8", "--bits", "16", "--step", "0.01")),
                     "k (--top_k): stored 4, asked 8")  # fmt: skip
    proc = _rdistill(*_cache(w, "--top_k", "8", "--bits", "16", "--step", "0.01"))
    assert "codec (--bits / --step)" in proc.stderr
    assert (folder / "manifest.json").read_bytes() == manifest
    # a truncated shard: named and rebuilt by the same command, which then resumes
    (shard,) = sorted(folder.glob("shard-*.topk"))
    good = shard.read_bytes()
    shard.write_bytes(good[: len(good) // 2])
    proc = _rdistill(*_cache(w))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"rebuilt the damaged shard {shard}" in proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["sequences"] == 8 and summary["rebuilt_shards"] == [shard.name]
    # the older spelling: the same command and the same one-line errors
    alias = [sys.executable, "-m", "reasoning_distill.training.scripts.cache", *_cache(w)[2:]]
    proc = subprocess.run(alias, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and json.loads(proc.stdout.splitlines()[-1])["skipped"] == 8
    proc = subprocess.run([*alias, "--top_k", "0"], capture_output=True, text=True, timeout=300)
    _one_line_exit_2(proc, "--top_k must be >= 1")


def _cache_in_process(w, folder, tokenizer_edit=None):
    """A k = 4 cache of the world's rows, built here (the tokenizer optionally edited)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reasoning_distill.training.teachers.cache import build_topk_cache
    from reasoning_distill.training.teachers.local import HFTeacher

    tok = AutoTokenizer.from_pretrained(w["model"])
    if tokenizer_edit:
        tokenizer_edit(tok)
    teacher = AutoModelForCausalLM.from_pretrained(w["teacher"])
    rows = [json.loads(line) for line in Path(w["data"]).read_text().splitlines()]
    build_topk_cache(HFTeacher(teacher, k=4), tok, rows, folder, w["teacher"], shard_sequences=4)
    return sorted(folder.glob("shard-*.topk"))


def _rkl_on_cache(w, folder, *extra):
    return ["train", "rkl", "--model_name_or_path", w["model"], "--dataset_name", w["data"],
            "--teacher_cache", str(folder), "--output_dir", str(w["tmp"] / "rkl"),
            "--max_steps", "1", *extra]  # fmt: skip


def test_train_on_a_cache_of_another_tokenizer_is_one_line(cache_world):
    w = cache_world
    folder = w["tmp"] / "other_tok_cache"

    def edit(tok):
        tok.chat_template = tok.chat_template + "{# another template #}"

    _cache_in_process(w, folder, edit)
    proc = _rdistill(*_rkl_on_cache(w, folder, "--skip_check", "true"))
    _one_line_exit_2(proc, f"the teacher cache {folder} was built with another tokenisation")
    assert not (w["tmp"] / "rkl" / "final").exists()


def test_train_on_a_damaged_cache_names_the_shard(cache_world):
    w = cache_world
    folder = w["tmp"] / "cache"
    shards = _cache_in_process(w, folder)
    data = bytearray(shards[1].read_bytes())
    data[-20] ^= 0xFF  # one flipped byte: same size, other digest
    shards[1].write_bytes(bytes(data))
    proc = _rdistill(*_rkl_on_cache(w, folder))
    _one_line_exit_2(proc, f"{shards[1]}: damaged top-k cache shard")
    assert "LZMA" not in proc.stderr
