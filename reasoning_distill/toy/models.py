"""Tiny Qwen2 causal LMs for the miniature world and for tests."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Arch:
    """The few numbers that define a tiny Qwen2."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int | None = None  # default: 3 * hidden_size
    max_position_embeddings: int = 256

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Head size 32 for both: vLLM's CPU attention runs only head sizes of 32 and up (32, 64, 80,
# ...), so `rdistill demo --engine vllm` can sample the teacher and evaluate the students.
TEACHER_ARCH = Arch(
    hidden_size=96, num_hidden_layers=4, num_attention_heads=3, num_key_value_heads=1
)
STUDENT_ARCH = Arch(
    hidden_size=64, num_hidden_layers=4, num_attention_heads=2, num_key_value_heads=1
)
TEST_ARCH = Arch(hidden_size=32, num_hidden_layers=2, max_position_embeddings=512)


def init_model(tokenizer, arch: Arch, seed: int = 0):
    """A freshly initialised `Qwen2ForCausalLM` whose vocabulary is `tokenizer`'s."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad_id = tokenizer.pad_token_id
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size or 3 * arch.hidden_size,
        num_hidden_layers=arch.num_hidden_layers,
        num_attention_heads=arch.num_attention_heads,
        num_key_value_heads=arch.num_key_value_heads,
        max_position_embeddings=arch.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        attn_implementation="eager",
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=eos_id, pad_token_id=pad_id, bos_token_id=None
    )
    return model


def make_tiny_model(
    path: str | Path, texts: list[str], arch: Arch = TEST_ARCH, vocab_size: int = 320, seed: int = 0
) -> Path:
    """Build and save an untrained tiny model plus tokenizer (for tests and examples)."""
    from reasoning_distill.toy.tokenizer import train_tokenizer

    path = Path(path)
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    model = init_model(tokenizer, arch, seed=seed)
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path
