"""SFT of a tiny real student: the loss falls, weights move, the checkpoint reloads, masks hold."""

from __future__ import annotations

import importlib.util
import json
import multiprocessing as mp

import pytest
import torch

from reasoning_distill.errors import ConfigError, InputError, OutputError
from reasoning_distill.training.checkpoint import TrainResult
from reasoning_distill.training.data import load_train_dataset
from reasoning_distill.training.distill_config import DistillConfig
from reasoning_distill.training.sft_config import StudentSFTConfig
from reasoning_distill.training.sft_trainer import train_sft
from tests.training.configs import STEADY, config_factory

_cfg = config_factory(StudentSFTConfig, **STEADY, learning_rate=3e-3)


def _train_in_child(model_dir, rows, out_dir, queue):
    from datasets import Dataset

    cfg = _cfg(max_steps=20, learning_rate=1e-2, torch_num_threads=1)
    result = train_sft(model_dir, None, Dataset.from_list(rows), out_dir, cfg)
    queue.put(result.to_json())


def test_sft_in_spawned_child_lowers_loss_moves_weights_and_saves(
    tiny_model_dir, train_rows, tmp_path, capfd
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_train_in_child, args=(tiny_model_dir, train_rows, tmp_path, queue))
    proc.start()
    payload = queue.get(timeout=300)
    proc.join(timeout=60)
    assert proc.exitcode == 0
    out, err = capfd.readouterr()
    assert out == "", f"library code printed: {out[:500]}"
    assert "it/s]" not in err, "a progress bar was drawn although disable_tqdm=True"

    result = TrainResult.from_json(payload)
    assert result.steps == 20
    assert result.loss_steps == [1, 5, 10, 15, 20]
    assert result.last_loss < result.first_loss - 1.0, result.losses
    assert json.loads((tmp_path / "train_log.json").read_text())["steps"] == 20
    assert result.checkpoint == tmp_path / "final"
    assert not (tmp_path / "final.tmp").exists()

    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    after = AutoModelForCausalLM.from_pretrained(result.checkpoint)
    changed = [
        name
        for (name, p0), (_, p1) in zip(
            before.named_parameters(), after.named_parameters(), strict=True
        )
        if not torch.equal(p0, p1)
    ]
    assert len(changed) == len(list(before.parameters()))
    tok = AutoTokenizer.from_pretrained(result.checkpoint)
    assert "{% generation %}" in tok.chat_template
    assert tok.get_vocab() == AutoTokenizer.from_pretrained(tiny_model_dir).get_vocab()


def test_full_logits_loss_equals_trl_fused_head(tiny_model_dir, train_dataset, tmp_path):
    """Our plain-logits loss (fast on CPU) is the same number as TRL's chunked fused head."""
    runs = {
        fused: train_sft(
            tiny_model_dir,
            None,
            train_dataset,
            tmp_path / str(fused),
            _cfg(max_steps=2, logging_steps=1, fused_lm_head=fused),
        )
        for fused in (False, True)
    }
    assert runs[False].losses == pytest.approx(runs[True].losses, rel=1e-4)


def test_reruns_are_seeded_and_replace_stale_output(tiny_model_dir, train_dataset, tmp_path):
    cfg = _cfg(max_steps=3, logging_steps=1, save_strategy="no")
    a = train_sft(tiny_model_dir, None, train_dataset, tmp_path, cfg)
    assert a.losses[0] != a.losses[-1]
    # an interrupted earlier save left a half-written temp dir: replaced, never reused
    (tmp_path / "final.tmp").mkdir()
    (tmp_path / "final.tmp" / "junk").write_text("half-written")
    b = train_sft(tiny_model_dir, None, train_dataset, tmp_path, cfg)
    assert a.losses == b.losses
    assert not (tmp_path / "final.tmp").exists()
    assert not (b.checkpoint / "junk").exists()
    assert (b.checkpoint / "config.json").is_file()


def test_run_folder_with_checkpoints_needs_resume_and_foreign_folder_is_refused(
    tiny_model_dir, train_dataset, tmp_path
):
    cfg = _cfg(max_steps=2, logging_steps=1, save_steps=1)
    train_sft(tiny_model_dir, None, train_dataset, tmp_path / "run", cfg)
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*")) == [
        "checkpoint-1",
        "checkpoint-2",
    ]
    with pytest.raises(OutputError, match="--resume"):
        train_sft(tiny_model_dir, None, train_dataset, tmp_path / "run", cfg)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("someone else's")
    with pytest.raises(OutputError, match="no training run of ours wrote"):
        train_sft(tiny_model_dir, None, train_dataset, foreign, cfg)
    assert (foreign / "notes.txt").read_text() == "someone else's"


@pytest.mark.parametrize("name", ["final/mine.txt", "train_log.json", "checkpoint-1/config.json"])
@pytest.mark.parametrize("resume", [False, True])
def test_a_folder_is_ours_only_by_our_marker(tiny_model_dir, train_dataset, tmp_path, name, resume):
    """A `final/`, a `train_log.json` or a `checkpoint-N/` are common names: a folder holding
    them without our marker is the user's, refused before anything is written, resume or not."""
    user = tmp_path / "user"
    (user / name).parent.mkdir(parents=True)
    (user / name).write_text("keep")
    cfg = _cfg(max_steps=1, resume=resume)
    with pytest.raises(OutputError, match=r"no \.rdistill-train-run"):
        train_sft(tiny_model_dir, None, train_dataset, user, cfg)
    assert (user / name).read_text() == "keep"
    assert sorted(str(p.relative_to(user)) for p in user.rglob("*") if p.is_file()) == [name]


def test_an_empty_folder_is_claimed_with_the_marker_first(tiny_model_dir, train_dataset, tmp_path):
    from reasoning_distill.training.checkpoint import RUN_MARKER

    (tmp_path / "empty").mkdir()
    once = _cfg(max_steps=1, save_strategy="no")
    train_sft(tiny_model_dir, None, train_dataset, tmp_path / "empty", once)
    assert (tmp_path / "empty" / RUN_MARKER).is_file()
    assert (tmp_path / "empty" / "final" / "config.json").is_file()
    # ours now: a rerun replaces its own final/
    train_sft(tiny_model_dir, None, train_dataset, tmp_path / "empty", once)


def test_template_without_generation_markers_is_refused(tiny_model_dir, train_dataset, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = tok.chat_template.replace("{% generation %}", "").replace(
        "{% endgeneration %}", ""
    )
    with pytest.raises(ConfigError, match="no training variant"):
        train_sft(tiny_model_dir, tok, train_dataset, tmp_path, _cfg())
    # the refusal comes from the pre-flight, and again from the trainer build when skipped
    with pytest.raises(ConfigError, match="no training variant"):
        train_sft(tiny_model_dir, tok, train_dataset, tmp_path, _cfg(skip_check=True))


def test_mask_that_masks_nothing_is_refused(tiny_model_dir, train_dataset, tmp_path):
    """A template that puts the whole conversation inside the generation block trains prompts."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = (
        "{% generation %}{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + "
        "m['content'] + '<|im_end|>\\n' }}{% endfor %}{% endgeneration %}"
    )
    with pytest.raises(ConfigError, match="prompt tokens"):
        train_sft(tiny_model_dir, tok, train_dataset, tmp_path, _cfg())
    with pytest.raises(ConfigError, match="masks nothing"):  # the real-batch check
        train_sft(tiny_model_dir, tok, train_dataset, tmp_path, _cfg(skip_check=True))


def test_assistant_only_needs_messages(tiny_model_dir, tmp_path):
    from datasets import Dataset

    ds = Dataset.from_list([{"text": "What is 1 + 1? 2"}] * 4)
    with pytest.raises(ConfigError, match="'messages' column"):
        train_sft(tiny_model_dir, None, ds, tmp_path, _cfg())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": -2}, "max_steps"),
        ({"max_steps": -1, "num_train_epochs": 0}, "max_steps"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"loss_window": 0}, "loss_window"),
        ({"torch_num_threads": 0}, "torch_num_threads"),
        ({"per_device_train_batch_size": 0}, "per_device_train_batch_size"),
        ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps"),
        ({"max_truncated_share": 1.5}, "max_truncated_share"),
        pytest.param(
            {"use_liger_kernel": True},
            "use_liger_kernel",
            marks=pytest.mark.skipif(
                importlib.util.find_spec("liger_kernel") is not None, reason="liger installed"
            ),
        ),
        ({"padding_free": True, "max_length": 128}, "padding_free"),
        ({"resume": True, "save_only_model": True}, "resume"),
        # lengths, counts and intervals: positive, of their own type (a bool is no count)
        ({"max_length": -5}, "max_length"),
        ({"max_length": 0}, "max_length"),
        ({"max_length": 2.5}, "max_length"),
        ({"max_steps": True}, "max_steps"),
        ({"per_device_train_batch_size": True}, "per_device_train_batch_size"),
        ({"per_device_eval_batch_size": 0}, "per_device_eval_batch_size"),
        ({"learning_rate": True}, "learning_rate"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"logging_steps": 0}, "logging_steps"),
        ({"save_steps": -1}, "save_steps"),
        ({"save_total_limit": 0}, "save_total_limit"),
        ({"seed": True}, "seed"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        StudentSFTConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"alpha": 1.5}, "alpha"), ({"temperature": 0.0}, "temperature")]
)
def test_distill_config_rejects_bad_alpha_and_temperature(kwargs, field):
    with pytest.raises(ValueError, match=field):
        DistillConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"top_k": 0}, "top_k"),
        ({"top_k": True}, "top_k"),
        ({"max_new_tokens": -1}, "max_new_tokens"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"max_length": -5}, "max_length"),
        ({"alpha": True}, "alpha"),
    ],
)
def test_distill_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        DistillConfig(**kwargs)


def test_config_defaults_are_cpu_safe():
    cfg = StudentSFTConfig()
    assert cfg.bf16 is False and cfg.gradient_checkpointing is False
    assert cfg.assistant_only_loss is True
    assert cfg.dataloader_num_workers == 0
    assert cfg.report_to in ("none", [], ["none"])


def test_load_train_dataset_sources(train_rows, tmp_path):
    from datasets import Dataset, DatasetDict

    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in train_rows[:5]))
    assert len(load_train_dataset(jsonl)) == 5
    Dataset.from_list(train_rows[:3]).save_to_disk(str(tmp_path / "flat"))
    assert len(load_train_dataset(tmp_path / "flat")) == 3
    DatasetDict({"train": Dataset.from_list(train_rows[:2])}).save_to_disk(str(tmp_path / "dd"))
    assert len(load_train_dataset(tmp_path / "dd")) == 2

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(train_rows[0]) + "\n{not json\n")
    with pytest.raises(InputError, match=r"bad\.jsonl:2"):
        load_train_dataset(bad)
    DatasetDict({"test": Dataset.from_list(train_rows[:2])}).save_to_disk(str(tmp_path / "nt"))
    with pytest.raises(InputError, match="'train' split"):
        load_train_dataset(tmp_path / "nt")
    with pytest.raises(InputError, match="no dataset"):
        load_train_dataset(tmp_path / "missing")
    assert len(load_train_dataset(tmp_path / "nt", split="test")) == 2


def test_hub_dataset_id_that_cannot_be_fetched_is_named(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="no-such-owner/no-such-dataset"):
        load_train_dataset("no-such-owner/no-such-dataset")


def test_unwritable_output_dir_is_named(tiny_model_dir, train_dataset, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="a_file"):
        train_sft(tiny_model_dir, None, train_dataset, blocker / "run", _cfg())
