"""Every training command on SmolLM2-135M-Instruct and the real DeepSeek-R1-Distill tokenizer,
through the CLI as a user runs it: `train check` (SmolLM2's own template, the R1 tokenizer with
TRL's template and with its older revision, refused on an embedding too small for it), `train
sft`, the top-k `train cache` and `train distill --teacher_cache` on it. A handful of rows and
short sequences keep each under a couple of minutes on 2 cores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli._rdistill import rdistill

pytestmark = pytest.mark.real_model

MAX_LENGTH = "96"
# GSM8K-style traces as a dataset build writes them: a think block, then a boxed answer; the
# last one was cut off by the token limit (finish_reason "length").
ROWS = [
    ("Tom has 3 apples and buys 5 more. How many apples does he have?",
     "<think>\n3 + 5 = 8.\n</think>\n\nTom has \\boxed{8} apples.", "stop"),
    ("A box holds 6 eggs. How many eggs are in 4 boxes?",
     "<think>\n6 * 4 = 24.\n</think>\n\nThere are \\boxed{24} eggs.", "stop"),
    ("Sara had 20 dollars and spent 7. How many dollars are left?",
     "<think>\n20 - 7 = 13.\n</think>\n\nSara has \\boxed{13} dollars left.", "stop"),
    ("A train travels 60 miles in 2 hours. What is its speed?",
     "<think>\nSpeed is distance over time, so 60 divided by", "length"),
]  # fmt: skip


def _ok(proc, code: int = 0) -> None:
    assert proc.returncode == code, (
        f"rc {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"
    )


def _summary(proc) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
         "finish_reason": f}
        for q, a, f in ROWS
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def r1_student(r1_tokenizer, tmp_path_factory) -> Path:
    """A config-only Qwen2 folder sized for the R1 tokenizer (151,936 rows, like
    DeepSeek-R1-Distill-Qwen): `train check` reads config files, never weights."""
    from transformers import Qwen2Config

    folder = tmp_path_factory.mktemp("r1") / "student"
    shutil.copytree(r1_tokenizer, folder)
    Qwen2Config(
        vocab_size=151936, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        bos_token_id=151646, eos_token_id=151643,
    ).save_pretrained(folder)  # fmt: skip
    return folder


def _check(model: Path, dataset: Path, *extra: str):
    return rdistill(
        "train", "check", "--model_name_or_path", str(model), "--dataset_name", str(dataset),
        "--max_length", MAX_LENGTH, *extra,
    )  # fmt: skip


def test_train_check_passes_smollm2_with_its_own_template(smollm2, dataset):
    proc = _check(smollm2, dataset)
    _ok(proc)
    assert "SmolLM2-Instruct's ChatML" in proc.stdout


def test_train_check_passes_the_r1_tokenizer_with_trls_template(r1_student, dataset, tmp_path):
    from transformers import AutoTokenizer

    from tests.training.training_fixtures import trl_template

    swapped = Path(shutil.copytree(r1_student, tmp_path / "trl"))
    tok = AutoTokenizer.from_pretrained(swapped)
    tok.chat_template = trl_template("deepseek_r1_distill")
    tok.save_pretrained(swapped)
    _ok(_check(swapped, dataset))
    # the revision the GGUF files carry (no <think>\n in its generation prompt) passes too
    proc = _check(r1_student, dataset)
    _ok(proc)
    assert "older DeepSeek-R1-Distill revision" in proc.stdout


def test_the_r1_tokenizer_on_smollm2s_embedding_is_refused(
    smollm2, r1_tokenizer, dataset, tmp_path
):
    proc = _check(smollm2, dataset, "--tokenizer_name_or_path", str(r1_tokenizer))
    _ok(proc, 1)
    assert "151665 ids" in proc.stdout and "49152 rows" in proc.stdout
    proc = rdistill(
        "train", "sft", "--model_name_or_path", str(smollm2), "--tokenizer_name_or_path",
        str(r1_tokenizer), "--dataset_name", str(dataset), "--max_length", MAX_LENGTH,
        "--max_steps", "1", "--output_dir", str(tmp_path / "run"), "--report_to", "none",
    )  # fmt: skip
    _ok(proc, 2)  # refused before training, not an IndexError
    assert "IndexError" not in proc.stderr and "Traceback" not in proc.stderr


def _train_flags(out: Path) -> list[str]:
    return [
        "--max_length", MAX_LENGTH, "--max_steps", "1", "--per_device_train_batch_size", "2",
        "--learning_rate", "1e-5", "--logging_steps", "1", "--save_strategy", "no",
        "--report_to", "none", "--disable_tqdm", "true", "--output_dir", str(out),
    ]  # fmt: skip


def test_train_sft_on_smollm2(smollm2, dataset, tmp_path):
    proc = rdistill(
        "train", "sft", "--model_name_or_path", str(smollm2), "--dataset_name", str(dataset),
        *_train_flags(tmp_path / "run"),
    )  # fmt: skip
    _ok(proc)
    summary = _summary(proc)
    final = Path(summary["checkpoint"])
    assert summary["steps"] == 1 and summary["first_loss"] > 0
    assert json.loads((final / "config.json").read_text())["use_cache"] is True
    # the saved student keeps SmolLM2's inference template, not the marked training copy
    saved = json.loads((final / "tokenizer_config.json").read_text()).get("chat_template")
    saved = saved or (final / "chat_template.jinja").read_text()
    assert "{% generation %}" not in saved


def test_teacher_cache_and_distill_on_it(smollm2, dataset, tmp_path):
    proc = rdistill(
        "train", "cache", "--teacher", str(smollm2), "--dataset_name", str(dataset),
        "--output_dir", str(tmp_path / "cache"), "--top_k", "8", "--max_length", MAX_LENGTH,
        "--batch_size", "4",
    )  # fmt: skip
    _ok(proc)
    cached = _summary(proc)
    assert cached["sequences"] == len(ROWS) and cached["tokens"] > 0
    proc = rdistill(
        "train", "distill", "--model_name_or_path", str(smollm2), "--dataset_name",
        str(dataset), "--teacher_cache", str(tmp_path / "cache"), *_train_flags(tmp_path / "run"),
    )  # fmt: skip
    _ok(proc)
    summary = _summary(proc)
    assert summary["steps"] == 1 and summary["reverse_kl"] >= 0
