"""What real templates and real datasets hid from the toy (issue 21), on tiny models: the top-k
cache tokenises like the trainer (training variant or `--chat_template_path`) and is matched by
tokenisation; `train check` refuses a tokenizer larger than the embedding, knows the older
R1-Distill revision, does not fail `assistant_only_loss: false`; a cut-off row
(`finish_reason: length`) never trains its end-of-turn token; the saved student caches keys
and values; every stage's `--help` lists `--config`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasoning_distill.errors import ConfigError, InputError
from reasoning_distill.training.check import check_sft
from reasoning_distill.training.distill_config import DistillConfig
from reasoning_distill.training.preflight import preflight
from reasoning_distill.training.sft_config import StudentSFTConfig
from tests.training.configs import small_config
from tests.training.training_fixtures import R1_TOKENS, save_sharp_teacher, trl_template


def _tok(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _cache_argv(teacher, tokenizer, data, out, *extra):
    return ["--teacher", str(teacher), "--tokenizer", str(tokenizer), "--dataset_name", str(data),
            "--output_dir", str(out), "--top_k", "4", *extra]  # fmt: skip


# ---- the top-k cache -------------------------------------------------------------------------


def test_cache_of_a_known_unmarked_template_uses_the_training_variant_and_distill_finds_it(
    qwen_template_model_dir, train_rows, tmp_path, capsys
):
    """TRL's Qwen2.5 template has no generation markers: SFT swaps in its training variant, so
    must the cache (before: every row skipped); the student keeps the inference template and
    still matches the cache (before: "built with another tokenizer or chat template")."""
    from reasoning_distill.training.distill_trainer import train_distill
    from reasoning_distill.training.scripts.cache import main

    teacher = save_sharp_teacher(qwen_template_model_dir, tmp_path / "teacher")
    data = _jsonl(tmp_path / "train.jsonl", train_rows[:8])
    assert main(_cache_argv(teacher, qwen_template_model_dir, data, tmp_path / "c")) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["sequences"] == 8 and summary["tokens"] > 0
    assert "{% generation %}" not in _tok(qwen_template_model_dir).chat_template
    cfg = small_config(
        DistillConfig, max_steps=1, teacher_cache=str(tmp_path / "c"), max_length=512
    )
    result = train_distill(qwen_template_model_dir, data, tmp_path / "run", cfg)
    assert result.steps == 1 and result.metrics["reverse_kl"][0] > 0


def test_cache_takes_the_trainings_chat_template_path(
    tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path, capsys
):
    """An unknown unmarked template: refused naming the fix, then built with the marked file
    the training uses, and `train distill --chat_template_path` matches it."""
    from reasoning_distill.training.distill_trainer import train_distill
    from reasoning_distill.training.scripts.cache import main

    tok = _tok(tiny_model_dir)
    marked = tmp_path / "marked.jinja"
    marked.write_text(tok.chat_template)
    tok.chat_template = tok.chat_template.replace("{% generation %}", "").replace(
        "{% endgeneration %}", ""
    )
    student = tmp_path / "student"
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(tiny_model_dir).save_pretrained(student)
    tok.save_pretrained(student)
    data = _jsonl(tmp_path / "train.jsonl", train_rows[:6])
    with pytest.raises(ConfigError, match="chat_template_path"):
        main(_cache_argv(sharp_teacher_dir, student, data, tmp_path / "refused"))
    assert not (tmp_path / "refused").exists()
    argv = _cache_argv(sharp_teacher_dir, student, data, tmp_path / "c")
    assert main([*argv, "--chat_template_path", str(marked)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["sequences"] == 6
    cfg = small_config(
        DistillConfig, max_steps=1, teacher_cache=str(tmp_path / "c"),
        chat_template_path=str(marked), max_length=512,
    )  # fmt: skip
    assert train_distill(student, data, tmp_path / "run", cfg).steps == 1
    # the cache is keyed by the tokenisation: without the file the student's rows differ
    with pytest.raises((InputError, ConfigError)):
        train_distill(
            student, data, tmp_path / "run2",
            small_config(DistillConfig, max_steps=1, teacher_cache=str(tmp_path / "c")),
        )  # fmt: skip


def test_a_cache_with_nothing_to_store_is_refused(tiny_model_dir, sharp_teacher_dir, tmp_path):
    from reasoning_distill.training.scripts.cache import main

    rows = [{"messages": [{"role": "user", "content": "What is 2+3?"},
                          {"role": "assistant", "content": "5"}]}]  # fmt: skip
    data = _jsonl(tmp_path / "train.jsonl", rows)
    argv = _cache_argv(sharp_teacher_dir, tiny_model_dir, data, tmp_path / "c")
    with pytest.raises(InputError, match="nothing was cached"):
        main([*argv, "--max_length", "3"])  # the prompt alone fills max_length


def test_cache_options_come_from_a_config_file(tiny_model_dir, tmp_path):
    from reasoning_distill.training.scripts.cache import parse_args

    recipe = tmp_path / "cache.yaml"
    recipe.write_text(f"teacher: {tiny_model_dir}\ntop_k: 16\ndataset_name: d\noutput_dir: o\n")
    args = parse_args(["--config", str(recipe), "--top_k", "8"])
    assert args.teacher == str(tiny_model_dir) and args.top_k == 8 and args.output_dir == "o"
    recipe.write_text("top_kk: 3\n")
    with pytest.raises(ConfigError, match="top_kk"):
        parse_args(["--config", str(recipe)])


# ---- train check -----------------------------------------------------------------------------


def _config_only(folder: Path, model_dir: Path, tok, vocab_size: int) -> Path:
    """A model folder of config files only (the pre-flight never reads weights)."""
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(model_dir)
    cfg.vocab_size = vocab_size
    cfg.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_a_tokenizer_with_more_ids_than_embedding_rows_is_refused_for_sft(
    tiny_model_dir, train_dataset, tmp_path
):
    tok = _tok(tiny_model_dir)
    small = _config_only(tmp_path / "small", tiny_model_dir, tok, len(tok) - 7)
    report = preflight(small, tok, train_dataset, StudentSFTConfig(max_length=512))
    assert not report.ok
    assert any(f"{len(tok)} ids" in p and f"{len(tok) - 7} rows" in p for p in report.problems)
    fits = _config_only(tmp_path / "fits", tiny_model_dir, tok, len(tok) + 64)  # padded: fine
    assert preflight(fits, tok, train_dataset, StudentSFTConfig(max_length=512)).ok


def test_assistant_only_loss_false_is_not_a_false_positive(tiny_model_dir, train_dataset):
    report = check_sft(
        _tok(tiny_model_dir),
        train_dataset,
        StudentSFTConfig(max_length=512, assistant_only_loss=False),
    )
    assert report.ok, report.problems
    assert all(report.sample.trained) and report.sample.counts["prompt"] > 0


def test_the_unknown_template_fix_it_suggests_passes(tiny_model_dir, train_dataset):
    """The refusal of an unmarked unknown template suggests assistant_only_loss: false; that
    suggestion must then pass."""
    tok = _tok(tiny_model_dir)
    tok.chat_template = tok.chat_template.replace("{% generation %}", "").replace(
        "{% endgeneration %}", ""
    )
    refused = check_sft(tok, train_dataset, StudentSFTConfig(max_length=512))
    assert any("assistant_only_loss: false" in p for p in refused.problems)
    followed = check_sft(
        tok, train_dataset, StudentSFTConfig(max_length=512, assistant_only_loss=False)
    )
    assert followed.ok, followed.problems


def _older_r1(template: str) -> str:
    """The older DeepSeek-R1-Distill revision: its generation prompt lacks `<think>\\n`."""
    new = "{{'<｜Assistant｜><think>\\n'}}{% endif %}"
    assert template.endswith(new)
    return template[: -len(new)] + "{{'<｜Assistant｜>'}}{% endif %}"


def test_the_older_r1_distill_revision_is_recognised(r1_template_model_dir, train_dataset):
    tok = _tok(r1_template_model_dir)
    tok.chat_template = _older_r1(trl_template("deepseek_r1_distill"))
    report = check_sft(tok, train_dataset, StudentSFTConfig(max_length=512))
    assert report.ok, report.problems
    assert report.training_template == trl_template("deepseek_r1_distill_training")
    assert any("older DeepSeek-R1-Distill revision" in n for n in report.notes)
    assert report.stop_token_id == tok.convert_tokens_to_ids(R1_TOKENS["eos"])


@pytest.mark.parametrize("assistant_only_loss", [True, False])
def test_a_template_that_strips_the_think_block_is_flagged_either_way(
    r1_template_model_dir, train_dataset, tmp_path, assistant_only_loss
):
    tok = _tok(r1_template_model_dir)
    stripping = tmp_path / "strips.jinja"  # marked, and it drops what precedes </think>
    stripping.write_text(trl_template("deepseek_r1_distill_training").replace(
        "{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}",
        "{{'<｜Assistant｜>' + message['content'].split('</think>')[-1] + '<｜end▁of▁sentence｜>'}}",
    ))  # fmt: skip
    if not assistant_only_loss:
        tok.chat_template = trl_template("deepseek_r1_distill")  # TRL's inference copy strips
    cfg = StudentSFTConfig(
        max_length=512,
        assistant_only_loss=assistant_only_loss,
        chat_template_path=str(stripping) if assistant_only_loss else None,
    )
    report = check_sft(tok, train_dataset, cfg)
    assert any("strips the <think> block" in p for p in report.problems), report.problems


# ---- truncated rows, the saved config, --help -------------------------------------------------


def _flagged(rows: list[dict]) -> list[dict]:
    return [{**r, "finish_reason": "length" if i % 2 else "stop"} for i, r in enumerate(rows)]


def test_a_cut_off_row_never_trains_its_end_of_turn_token(tiny_model_dir, train_rows, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    from reasoning_distill.training.sft_trainer import StudentSFTTrainer, build_trainer

    tok = _tok(tiny_model_dir)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    cfg = small_config(StudentSFTConfig, max_steps=1, max_length=512, report_to="none")
    dataset = Dataset.from_list(_flagged(train_rows[:8]))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    trainer = build_trainer(StudentSFTTrainer, model, tok, dataset, tmp_path / "run", cfg)
    for i, row in enumerate(trainer.train_dataset):
        trained = [t for t in row["labels"] if t != -100]
        assert trained, i
        if i % 2:  # cut off: the answer is trained, its closing token is not
            assert im_end not in trained and im_end in row["input_ids"]
        else:
            assert trained[-1] == im_end
    trainer.train()  # the first batch's mask check accepts the cut-off rows


def test_rows_without_finish_reason_train_as_before(tiny_model_dir, train_rows, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    from reasoning_distill.training.sft_trainer import StudentSFTTrainer, build_trainer

    tok = _tok(tiny_model_dir)
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    cfg = small_config(StudentSFTConfig, max_steps=1, max_length=512, report_to="none")
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    trainer = build_trainer(
        StudentSFTTrainer, model, tok, Dataset.from_list(train_rows[:4]), tmp_path / "r", cfg
    )
    for row in trainer.train_dataset:
        assert [t for t in row["labels"] if t != -100][-1] == im_end


def test_packing_cut_off_rows_is_refused(tiny_model_dir, train_rows, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    from reasoning_distill.training.sft_trainer import StudentSFTTrainer, build_trainer

    cfg = small_config(
        StudentSFTConfig, max_steps=1, max_length=512, packing=True, report_to="none"
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with pytest.raises(ConfigError, match="finish_reason 'length'"):
        build_trainer(
            StudentSFTTrainer, model, _tok(tiny_model_dir),
            Dataset.from_list(_flagged(train_rows[:8])), tmp_path / "r", cfg,
        )  # fmt: skip


def test_the_saved_student_uses_its_kv_cache(tiny_model_dir, train_dataset, tmp_path):
    from reasoning_distill.training.sft_trainer import train_sft

    cfg = small_config(
        StudentSFTConfig, max_steps=1, max_length=512, gradient_checkpointing=True,
        report_to="none",
    )  # fmt: skip
    result = train_sft(tiny_model_dir, None, train_dataset, tmp_path / "run", cfg)
    assert json.loads((Path(result.checkpoint) / "config.json").read_text())["use_cache"] is True


@pytest.mark.parametrize("stage", ["sft", "distill", "rkl", "check", "cache"])
def test_every_stage_help_lists_config(stage, capsys):
    from reasoning_distill.cli.train import entry_point

    with pytest.raises(SystemExit) as e:
        entry_point(stage)(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--config" in out and f"rdistill train {stage if stage != 'rkl' else 'distill'}" in out
