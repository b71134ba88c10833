"""A small byte-level BPE tokenizer trained locally, saved as a Qwen2 tokenizer.

It is trained with exactly the pre-tokenization pipeline that `Qwen2Tokenizer` rebuilds on
load (NFC, Qwen2's split regex, byte-level), so token ids survive a save / reload through
`AutoTokenizer`. Qwen2's regex isolates every digit, so each digit is one token: a tiny
model can then learn digit-wise arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]


def chat_template() -> str:
    """The ChatML template with `<think>` content and `{% generation %}` markers."""
    return resources.files("reasoning_distill.toy").joinpath("chat_template.jinja").read_text()


def train_tokenizer(texts: Iterable[str], vocab_size: int = 512):
    """Train a BPE tokenizer on `texts` and return a `Qwen2Tokenizer` (not yet saved)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    model = tok.get_vocab()
    state = tok.to_str()
    import json

    merges = json.loads(state)["model"]["merges"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]
    hf = Qwen2Tokenizer(
        vocab=model,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        additional_special_tokens=SPECIAL_TOKENS[1:],
        padding_side="left",
    )
    hf.chat_template = chat_template()
    return hf


def save_tokenizer(tokenizer, path: str | Path) -> None:
    tokenizer.save_pretrained(str(path))
