"""The SFT stage's options on a tiny real student: templates kept, EOS aligned, LoRA, resume,
packing and padding-free, and the loss normalised over the whole accumulated batch."""

from __future__ import annotations

import json

import pytest
import torch

from reasoning_distill.training.sft_config import StudentSFTConfig
from reasoning_distill.training.sft_trainer import train_sft
from tests.training.arithmetic import arithmetic_messages
from tests.training.configs import config_factory
from tests.training.training_fixtures import R1_TOKENS, trl_template

_cfg = config_factory(StudentSFTConfig, max_steps=4, learning_rate=1e-2, save_strategy="no")


def _weights(path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    return dict(AutoModelForCausalLM.from_pretrained(path).named_parameters())


def _mixed_lengths(n: int):
    """Short and long rows interleaved, so micro-batches train different token counts."""
    from datasets import Dataset

    short, long = arithmetic_messages(n // 2, seed=3, terms=2), arithmetic_messages(n // 2, 4, 7)
    return Dataset.from_list([r for pair in zip(short, long, strict=True) for r in pair])


def test_r1_student_keeps_its_inference_template_and_stops_on_its_eos(
    r1_template_model_dir, train_dataset, tmp_path
):
    from transformers import AutoTokenizer, GenerationConfig

    result = train_sft(r1_template_model_dir, None, train_dataset, tmp_path, _cfg(max_steps=2))
    saved = AutoTokenizer.from_pretrained(result.checkpoint)
    assert saved.chat_template == trl_template("deepseek_r1_distill")  # not the training variant
    gen = GenerationConfig.from_pretrained(result.checkpoint)
    eos = saved.convert_tokens_to_ids(R1_TOKENS["eos"])
    assert eos in ([gen.eos_token_id] if isinstance(gen.eos_token_id, int) else gen.eos_token_id)


def test_saved_generation_config_gains_the_template_end_of_turn(
    qwen_template_model_dir, train_dataset, tmp_path
):
    """A generation config that would not stop (EOS <|endoftext|>) is fixed in the saved model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    tok = AutoTokenizer.from_pretrained(qwen_template_model_dir)
    model = AutoModelForCausalLM.from_pretrained(qwen_template_model_dir)
    model.generation_config.eos_token_id = tok.convert_tokens_to_ids("<|endoftext|>")
    cfg = _cfg(max_steps=1, skip_check=True)
    result = train_sft(model, tok, train_dataset, tmp_path, cfg)
    gen = GenerationConfig.from_pretrained(result.checkpoint)
    assert tok.convert_tokens_to_ids("<|im_end|>") in gen.eos_token_id
    saved = AutoTokenizer.from_pretrained(result.checkpoint)
    assert saved.chat_template == trl_template("qwen2_5")


def test_lora_trains_only_adapters_and_saves_adapter_and_merged_model(
    tiny_model_dir, train_dataset, tmp_path
):
    pytest.importorskip("peft")
    from trl import ModelConfig

    model_args = ModelConfig(
        use_peft=True, lora_r=4, lora_alpha=8, lora_target_modules=["q_proj", "v_proj"]
    )
    result = train_sft(
        tiny_model_dir, None, train_dataset, tmp_path, _cfg(max_steps=5), model_args=model_args
    )
    assert result.last_loss < result.first_loss
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["r"] == 4
    before, after = _weights(tiny_model_dir), _weights(result.checkpoint)
    assert set(before) == set(after)  # final/ is a plain model: the adapter merged in
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and all("q_proj" in n or "v_proj" in n for n in changed), changed
    assert any("q_proj.weight" in n for n in changed)


@pytest.fixture
def transformers_warnings():
    """What transformers' own loggers warn during the test (they do not propagate to caplog)."""
    import logging

    said: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    keep = Keep(logging.WARNING)
    logging.getLogger("transformers").addHandler(keep)
    yield said
    logging.getLogger("transformers").removeHandler(keep)


def test_resume_continues_a_killed_run_exactly(
    tiny_model_dir, train_dataset, tmp_path, transformers_warnings
):
    from transformers import TrainerCallback

    class StopAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                control.should_training_stop = True

    cfg = _cfg(save_strategy="steps", save_steps=2)
    whole = train_sft(tiny_model_dir, None, train_dataset, tmp_path / "whole", cfg)
    killed = train_sft(tiny_model_dir, None, train_dataset, tmp_path / "r", cfg, [StopAt()])
    assert killed.steps == 2 and (tmp_path / "r" / "checkpoint-2").is_dir()
    said = transformers_warnings
    said.clear()
    resumed = train_sft(
        tiny_model_dir, None, train_dataset, tmp_path / "r", _cfg(save_steps=2, resume=True)
    )
    # the tied head is left out of the checkpoint and re-tied, with no false alarm about it
    assert not [m for m in said if "missing keys" in m], said
    assert resumed.steps == 4
    assert resumed.loss_steps == whole.loss_steps == [1, 2, 3, 4]
    assert resumed.losses == pytest.approx(whole.losses, rel=1e-5)
    a, b = _weights(whole.checkpoint), _weights(resumed.checkpoint)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6)


def test_resume_skips_a_checkpoint_whose_save_was_killed(
    tiny_model_dir, train_dataset, tmp_path, caplog
):
    """A SIGKILL mid-save leaves checkpoint-N/ with only config.json: resume passes over it,
    naming it, and continues from the newest complete checkpoint."""
    import logging
    import shutil

    from transformers import TrainerCallback

    class StopAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                control.should_training_stop = True

    train_sft(tiny_model_dir, None, train_dataset, tmp_path / "r", _cfg(**_RESUME), [StopAt()])
    torn = tmp_path / "r" / "checkpoint-3"
    torn.mkdir()
    shutil.copy(tmp_path / "r" / "checkpoint-2" / "config.json", torn / "config.json")
    with caplog.at_level(logging.INFO, logger="reasoning_distill.training.sft_trainer"):
        resumed = train_sft(
            tiny_model_dir, None, train_dataset, tmp_path / "r", _cfg(**{**_RESUME, "resume": True})
        )
    assert resumed.steps == 4
    assert resumed.loss_steps == [1, 2, 3, 4]  # steps 1-2 from checkpoint-2's state, then 3-4
    said = caplog.text
    assert "skipping the incomplete" in said and "checkpoint-3" in said
    assert "trainer_state.json" in said and "resuming from" in said and "checkpoint-2" in said


_RESUME = {"max_steps": 4, "save_strategy": "steps", "save_steps": 2, "save_total_limit": None}


def test_checkpoint_completeness(tmp_path):
    from reasoning_distill.training.checkpoint import checkpoint_problem, last_complete_checkpoint

    def make(n, *files, state="{}"):
        d = tmp_path / f"checkpoint-{n}"
        d.mkdir()
        for f in files:
            (d / f).write_text("x")
        if state is not None:
            (d / "trainer_state.json").write_text(state)
        return d

    good = make(2, "config.json", "model.safetensors")
    make(10, "config.json", state=None)  # killed before the weights
    make(9, "config.json", "model.safetensors", state='{"global_step": ')  # state cut short
    make(8, "config.json")  # a state but no weights
    assert checkpoint_problem(good) is None
    last, skipped = last_complete_checkpoint(tmp_path)
    assert last == good
    assert [p.name for p, _ in skipped] == ["checkpoint-10", "checkpoint-9", "checkpoint-8"]
    assert "no trainer_state.json" in skipped[0][1] and "cut short" in skipped[1][1]
    assert "weights" in skipped[2][1]


def test_padding_free_batch_gives_the_padded_batch_loss(tiny_model_dir, train_dataset, tmp_path):
    """Packed sequences (position_ids restart, no attention mask) must not attend across rows."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from reasoning_distill.training.data import load_causal_lm, load_tokenizer
    from reasoning_distill.training.losses import IGNORE_INDEX, shift_labels
    from reasoning_distill.training.sft_trainer import StudentSFTTrainer, build_trainer

    tok = load_tokenizer(None, tiny_model_dir)
    model = load_causal_lm(tiny_model_dir)
    trainer = build_trainer(
        StudentSFTTrainer, model, tok, train_dataset, tmp_path, _cfg(max_length=512)
    )
    rows = [trainer.train_dataset[i] for i in range(6)]
    padded = trainer.data_collator(rows)
    free = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id, padding_free=True)(rows)
    assert "attention_mask" not in free and free["input_ids"].shape[0] == 1

    def summed_ce(batch):
        labels = batch.pop("labels")
        with torch.no_grad():
            logits = model(**batch).logits
        return torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), shift_labels(labels).flatten(), ignore_index=IGNORE_INDEX,
            reduction="sum",
        )  # fmt: skip

    torch.testing.assert_close(summed_ce(dict(free)), summed_ce(dict(padded)), rtol=1e-5, atol=1e-4)


def test_packing_and_padding_free_train_with_gradient_checkpointing(
    tiny_model_dir, train_dataset, tmp_path
):
    cfg = _cfg(
        max_steps=6,
        packing=True,
        padding_free=True,
        max_length=256,
        gradient_checkpointing=True,
        gradient_checkpointing_kwargs={"use_reentrant": False},
    )
    result = train_sft(tiny_model_dir, None, train_dataset, tmp_path, cfg)
    assert result.steps == 6 and result.last_loss < result.first_loss
    assert result.metrics["tokens_per_second"][-1] > 0


def test_loss_is_the_same_with_or_without_gradient_accumulation(tiny_model_dir, tmp_path):
    """Per trained token over the whole accumulated batch: one batch of 8 = two micro-batches
    of 4 (or four of 2), although the micro-batches train different numbers of tokens."""
    data = _mixed_lengths(48)
    runs = {
        accum: train_sft(
            tiny_model_dir,
            None,
            data,
            tmp_path / str(accum),
            _cfg(
                max_steps=3,
                per_device_train_batch_size=8 // accum,
                gradient_accumulation_steps=accum,
                train_sampling_strategy="sequential",
                # SGD: Adam's m / sqrt(v) turns float32 rounding in near-zero gradients into
                # full-size steps, which would hide the comparison in noise
                optim="sgd",
                learning_rate=0.5,
            ),
        )
        for accum in (1, 2, 4)
    }
    for accum in (2, 4):
        assert runs[accum].losses == pytest.approx(runs[1].losses, rel=1e-5)
        a, b = _weights(runs[1].checkpoint), _weights(runs[accum].checkpoint)
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5)


def test_real_batch_check_needs_the_eos_but_not_in_rows_cut_by_max_length(
    tiny_model_dir, train_dataset, tmp_path
):
    from reasoning_distill.errors import ConfigError
    from reasoning_distill.training.data import load_tokenizer

    tok = load_tokenizer(None, tiny_model_dir)
    tok.chat_template = tok.chat_template.replace(
        "{{ '<|im_end|>' }}{% endgeneration %}", "{% endgeneration %}{{ '<|im_end|>' }}"
    )
    with pytest.raises(ConfigError, match="no EOS is trained"):  # even with the check skipped
        train_sft(tiny_model_dir, tok, train_dataset, tmp_path / "a", _cfg(skip_check=True))
    # rows longer than max_length lose their EOS: tolerated when the recipe says so
    cfg = _cfg(max_steps=1, max_length=40, max_truncated_share=1.0)
    assert train_sft(tiny_model_dir, None, train_dataset, tmp_path / "b", cfg).steps == 1


def test_resuming_a_finished_run_trains_no_step_beyond_its_last(
    tiny_model_dir, train_dataset, tmp_path
):
    """A run killed after its last checkpoint (the demo, between an arm's end and its result
    file) is resumed: it ends at its own step count, with the weights it had, not one step on."""
    done = train_sft(tiny_model_dir, None, train_dataset, tmp_path / "r", _cfg(**_RESUME))
    assert done.steps == 4 and (tmp_path / "r" / "checkpoint-4").is_dir()
    before = {k: v.detach().clone() for k, v in _weights(done.checkpoint).items()}
    again = train_sft(
        tiny_model_dir, None, train_dataset, tmp_path / "r", _cfg(**{**_RESUME, "resume": True})
    )
    assert again.steps == 4
    assert sorted(p.name for p in (tmp_path / "r").glob("checkpoint-*")) == [
        "checkpoint-2",
        "checkpoint-4",
    ]
    after = _weights(again.checkpoint)
    for name, value in before.items():
        torch.testing.assert_close(after[name], value, rtol=0, atol=0)
    longer = train_sft(
        tiny_model_dir, None, train_dataset, tmp_path / "r",
        _cfg(**{**_RESUME, "max_steps": 6, "resume": True}),
    )  # fmt: skip
    assert longer.steps == 6  # a larger max_steps continues the run
