"""The pre-flight check on real templates (TRL's Qwen2.5 and R1-Distill text, local tokenizers)."""

from __future__ import annotations

import pytest

from reasoning_distill.training.check import check_sft, check_vocabularies, stop_token_id
from reasoning_distill.training.check_view import render_report
from reasoning_distill.training.preflight import preflight
from reasoning_distill.training.sft_config import StudentSFTConfig
from tests.training.training_fixtures import R1_TOKENS, trl_template


def _cfg(**kw) -> StudentSFTConfig:
    return StudentSFTConfig(**{"max_length": 512, **kw})


def _tok(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def _text(renderable) -> str:
    from rich.console import Console

    console = Console(width=120, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def test_toy_template_is_ready_and_counts_every_part(tiny_model_dir, train_dataset):
    report = preflight(tiny_model_dir, _tok(tiny_model_dir), train_dataset, _cfg())
    assert report.ok, report.problems
    c = report.sample.counts
    assert c["think"] > 5 and c["answer"] > 3 and c["eos"] == 1 and c["prompt"] == 0
    shown = _text(render_report(report))
    assert "What is" in shown and "</think>" in shown and "ready" in shown
    assert "think {}".format(c["think"]) in shown
    # what is marked trained is exactly the assistant turn (the untrained part holds the question)
    trained = "".join(
        p for p, t in zip(report.sample.pieces, report.sample.trained, strict=True) if t
    )
    assert trained.startswith("<think>") and trained.endswith("<|im_end|>")
    assert "What is" not in trained


def test_answer_only_rows_with_an_empty_think_block_are_ready(tiny_model_dir):
    """The demo's answer_only arm: `<think>\n\n</think>` then the answer, nothing to keep."""
    from datasets import Dataset

    row = [
        {"role": "user", "content": "What is 2+3?"},
        {"role": "assistant", "content": "<think>\n\n</think>\n\n\\boxed{5}"},
    ]
    report = preflight(
        tiny_model_dir, _tok(tiny_model_dir), Dataset.from_list([{"messages": row}]), _cfg()
    )
    assert report.ok, report.problems
    assert report.sample.counts["think"] == 0 and report.sample.counts["answer"] > 0


def test_known_template_without_markers_is_swapped_for_trls_variant(
    qwen_template_model_dir, train_dataset
):
    tok = _tok(qwen_template_model_dir)
    from trl.chat_template_utils import has_generation_markers

    assert not has_generation_markers(tok.chat_template)
    report = preflight(qwen_template_model_dir, tok, train_dataset, _cfg())
    assert report.ok, report.problems
    assert any("training variant" in n for n in report.notes)
    assert report.training_template == trl_template("qwen2_5_training")
    assert report.sample.counts["eos"] == 1
    assert tok.convert_ids_to_tokens(report.stop_token_id) == "<|im_end|>"


def test_r1_distill_template_is_swapped_and_keeps_the_reasoning(
    r1_template_model_dir, train_dataset
):
    tok = _tok(r1_template_model_dir)
    # the inference template drops everything up to </think> from an assistant turn
    rendered = tok.apply_chat_template(train_dataset[0]["messages"], tokenize=False)
    assert "</think>" not in rendered
    report = preflight(r1_template_model_dir, tok, train_dataset, _cfg())
    assert report.ok, report.problems
    assert report.training_template == trl_template("deepseek_r1_distill_training")
    assert report.sample.counts["think"] > 5
    assert tok.convert_ids_to_tokens(report.stop_token_id) == R1_TOKENS["eos"]


def test_hand_marked_template_that_strips_think_is_refused(
    r1_template_model_dir, train_dataset, tmp_path
):
    """A user copy of the R1-Distill template with markers added but the split kept."""
    original = trl_template("deepseek_r1_distill")
    target = "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}"
    assert target in original
    marked = original.replace(target, "{% generation %}" + target + "{% endgeneration %}")
    path = tmp_path / "marked.jinja"
    path.write_text(marked)
    report = preflight(
        r1_template_model_dir,
        _tok(r1_template_model_dir),
        train_dataset,
        _cfg(chat_template_path=str(path)),
    )
    assert any("strips the <think> block" in p for p in report.problems), report.problems
    assert any("no think" in p for p in report.problems)


def test_unknown_template_without_markers_is_refused_with_the_fix(tiny_model_dir, train_dataset):
    tok = _tok(tiny_model_dir)
    tok.chat_template = tok.chat_template.replace("{% generation %}", "").replace(
        "{% endgeneration %}", ""
    )
    report = check_sft(tok, train_dataset, _cfg())
    assert not report.ok
    assert "no training variant" in report.problems[0]
    assert "chat_template_path" in report.problems[0]


def test_untrained_eos_is_refused(tiny_model_dir, train_dataset):
    tok = _tok(tiny_model_dir)
    tok.chat_template = tok.chat_template.replace(
        "{{ '<|im_end|>' }}{% endgeneration %}", "{% endgeneration %}{{ '<|im_end|>' }}"
    )
    assert stop_token_id(tok, tok.chat_template) is None
    report = check_sft(tok, train_dataset, _cfg())
    assert any("no EOS is trained" in p for p in report.problems), report.problems


def test_eos_disagreements_are_refused_and_eos_token_fixes_them(tiny_model_dir, train_dataset):
    from transformers import AutoConfig, GenerationConfig

    tok = _tok(tiny_model_dir)
    model_config = AutoConfig.from_pretrained(tiny_model_dir)
    gen = GenerationConfig(eos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"))
    report = check_sft(tok, train_dataset, _cfg(), model_config, gen)
    assert any("generation_config.eos_token_id" in p for p in report.problems), report.problems

    tok.eos_token = "<|endoftext|>"  # a base model's tokenizer: EOS is not the end of turn
    report = check_sft(tok, train_dataset, _cfg(), model_config, gen)
    assert any("tokenizer's eos_token is '<|endoftext|>'" in p for p in report.problems)
    assert any("eos_token: '<|im_end|>'" in p for p in report.problems)

    fixed = check_sft(tok, train_dataset, _cfg(eos_token="<|im_end|>"), model_config, gen)
    assert fixed.ok, fixed.problems


def test_short_context_and_truncation_are_refused_with_the_99_percent_length(
    tiny_model_dir, train_dataset
):
    from transformers import AutoConfig

    tok = _tok(tiny_model_dir)
    model_config = AutoConfig.from_pretrained(tiny_model_dir)
    report = check_sft(tok, train_dataset, _cfg(max_length=4096), model_config)
    assert any("context is 512 tokens" in p for p in report.problems)

    lengths = sorted(
        len(tok.apply_chat_template(r["messages"], tokenize=True, return_dict=True)["input_ids"])
        for r in train_dataset
    )
    cut = lengths[len(lengths) // 2]
    report = check_sft(tok, train_dataset, _cfg(max_length=cut), model_config)
    (problem,) = [p for p in report.problems if "truncated" in p]
    over = sum(n > cut for n in lengths)
    assert f"{over} of {len(lengths)} rows" in problem
    keep99 = lengths[int(0.99 * len(lengths) + 0.999) - 1]
    assert f"max_length: {keep99} keeps 99%" in problem
    lenient = check_sft(tok, train_dataset, _cfg(max_length=cut, max_truncated_share=0.9))
    assert lenient.ok and any("truncated" in n for n in lenient.notes)


def test_vocabularies_compared_token_by_token_with_padded_rows_allowed(
    tiny_model_dir, other_vocab_model_dir
):
    tok, other = _tok(tiny_model_dir), _tok(other_vocab_model_dir)
    problems, _ = check_vocabularies(tok, other)
    assert problems and "token by token" in problems[0]

    n = len(tok)
    # one tokenizer, output matrices padded to different sizes (151,936 vs 152,064 in Qwen2.5)
    problems, notes = check_vocabularies(tok, _tok(tiny_model_dir), n + 64, n + 192)
    assert not problems
    assert "padded" in notes[0] and "sliced" in notes[0]
    problems, _ = check_vocabularies(tok, tok, n - 1, n)
    assert "student outputs" in problems[0]


@pytest.mark.parametrize("column", ["text"])
def test_non_conversational_data_needs_assistant_only_off(tiny_model_dir, column):
    from datasets import Dataset

    ds = Dataset.from_list([{column: "What is 1 + 1? 2"}] * 4)
    tok = _tok(tiny_model_dir)
    assert "'messages' column" in check_sft(tok, ds, _cfg()).problems[0]
    assert check_sft(tok, ds, _cfg(assistant_only_loss=False)).ok
