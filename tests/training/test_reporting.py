"""wandb reporting: offline runs are written, and a missing API key means offline, said aloud."""

from __future__ import annotations

import logging
import os

import pytest

from reasoning_distill.training.reporting import prepare_report_to


def _no_wandb_credentials(monkeypatch, tmp_path):
    for var in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.setenv(var, "placeholder")  # so that undo restores the real state
        monkeypatch.delenv(var)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def test_no_api_key_means_offline_with_a_message(monkeypatch, tmp_path, caplog):
    pytest.importorskip("wandb")
    _no_wandb_credentials(monkeypatch, tmp_path)
    with caplog.at_level(logging.WARNING):
        assert prepare_report_to("wandb") == ["wandb"]
    assert os.environ["WANDB_MODE"] == "offline"
    assert "no wandb API key" in caplog.text


def test_report_to_none_and_explicit_mode_are_left_alone(monkeypatch, tmp_path):
    _no_wandb_credentials(monkeypatch, tmp_path)
    assert prepare_report_to("none") == []
    assert prepare_report_to(None) == []
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert prepare_report_to(["wandb"]) == ["wandb"]
    assert os.environ["WANDB_MODE"] == "disabled"


def test_wandb_offline_run_is_written(tiny_model_dir, train_dataset, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from reasoning_distill.training.sft_config import StudentSFTConfig
    from reasoning_distill.training.sft_trainer import train_sft

    _no_wandb_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb

    # wandb reads its environment once per process: an earlier test's run (the gap report's)
    # would otherwise send this one to that test's folder
    wandb.teardown()
    config = StudentSFTConfig(
        max_steps=3, per_device_train_batch_size=8, logging_steps=1, report_to=["wandb"]
    )
    train_sft(tiny_model_dir, None, train_dataset, tmp_path / "run", config)
    wandb.finish()
    # finish() returns once the run is handed to wandb's service process, which may still be
    # writing the run file; teardown() waits for that process to exit, as the end of a
    # training process does (atexit), so the file is complete when it is read.
    wandb.teardown()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert runs, list(tmp_path.rglob("*"))[:20]
    (log,) = runs[0].rglob("*.wandb")
    # The run file is protobuf records: their keys are stored as plain bytes.
    data = log.read_bytes()
    for series in (b"train/loss", b"train/learning_rate", b"train/tokens_per_second"):
        assert series in data, series
    for key in (b"per_device_train_batch_size", b"max_truncated_share"):  # the config
        assert key in data, key
