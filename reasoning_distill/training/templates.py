"""Chat templates for training: TRL's training variants, and the token a turn ends with.

Assistant-only loss needs `{% generation %}` markers around the assistant turns. TRL 1.16
ships training variants of the templates students use (`trl.chat_template_utils`: Qwen2.5,
Qwen3, DeepSeek-R1-Distill, Llama 3, Gemma, Phi-3, ...); a known template is swapped for its
variant, the saved student keeps the original for inference. TRL matches a template by its
exact text, so two templates it does not know are recognised here (`known_variant`): the older
DeepSeek-R1-Distill revision (the one in the R1-Distill GGUF files: its generation prompt ends at
`<｜Assistant｜>`, TRL's copy adds `<think>\\n`; assistant turns render the same, so TRL's
training variant trains the same tokens), and SmolLM2-Instruct's ChatML, for which the package
ships a marked copy (`chat_templates/smollm2_training.jinja`) that renders the same text.

The teacher cache tokenises with the template `training_template` returns, like the trainer,
and `template_fingerprint` names a tokenisation by the vocabulary and that template.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).parent / "chat_templates"
# The older DeepSeek-R1-Distill revision's generation prompt, and TRL's copy's.
_R1_OLD_PROMPT = "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}{% endif %}"
_R1_TRL_PROMPT = (
    "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)


def template_text(template: Any) -> str | None:
    if isinstance(template, dict):
        return template.get("default")
    return template


def known_variant(original: str) -> tuple[str, str] | None:
    """`(training variant, note)` for a template TRL does not recognise by its text but this
    package does; None otherwise."""
    from trl.chat_template_utils import (
        deepseek_r1_distill_chat_template,
        deepseek_r1_distill_training_chat_template,
    )

    if (
        original.endswith(_R1_OLD_PROMPT)
        and original[: -len(_R1_OLD_PROMPT)] + _R1_TRL_PROMPT == deepseek_r1_distill_chat_template
    ):
        return (
            deepseek_r1_distill_training_chat_template,
            "the chat template is the older DeepSeek-R1-Distill revision (its generation prompt "
            "ends at <｜Assistant｜>; TRL's copy adds <think>\\n, the turns render the same): using "
            "TRL's DeepSeek-R1-Distill training variant for the loss mask (the saved student keeps "
            "its original inference template)",
        )
    smollm2 = SHIPPED / "smollm2_training.jinja"
    if original == _unmarked(smollm2.read_text()):
        return (
            smollm2.read_text(),
            f"the chat template is SmolLM2-Instruct's ChatML: using the package's marked copy "
            f"{smollm2.name} (same text, {{% generation %}} around assistant turns) for the loss "
            f"mask (the saved student keeps its original inference template)",
        )
    return None


def _unmarked(marked: str) -> str:
    """SmolLM2's inference template, from the shipped marked copy."""
    return marked.replace(
        "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}{% generation %}"
        "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}{% else %}"
        "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
        "{% endif %}",
        "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}",
    )


def template_fingerprint(tokenizer, template: str | None = None) -> str:
    """A hash of the vocabulary and the chat template a row is tokenised with (`template`, or
    the tokenizer's own): equal fingerprints tokenise every row alike."""
    vocab = sorted(tokenizer.get_vocab().items())
    text = template if template is not None else (tokenizer.chat_template or "")
    if isinstance(text, dict):
        text = json.dumps(text, sort_keys=True)
    return hashlib.sha256(json.dumps([vocab, text]).encode()).hexdigest()[:16]


def training_template(tokenizer, chat_template_path: str | None = None):
    """`(template, note, problem)`: the template to train with and what was done to get it.

    A template with `{% generation %}` markers is used as it is; a known one without them is
    swapped for TRL's training variant (`trl.chat_template_utils.get_training_chat_template`);
    an unknown one is a problem that says what to do.
    """
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if chat_template_path:
        path = Path(chat_template_path)
        if path.is_file():
            text = path.read_text()
            if not has_generation_markers(text):
                return (
                    None,
                    None,
                    (
                        f"chat_template_path {path} has no {{% generation %}} markers around the "
                        f"assistant content, so no assistant mask can be built"
                    ),
                )
            return text, f"training with the chat template from {path}", None
    original = template_text(tokenizer.chat_template)
    if not original:
        return (
            None,
            None,
            (
                "the tokenizer has no chat template: set chat_template_path to a .jinja file whose "
                "assistant turns sit inside {% generation %} ... {% endgeneration %}"
            ),
        )
    if has_generation_markers(original):
        return original, None, None
    known = known_variant(original)
    if known is not None:
        return known[0], known[1], None
    try:
        variant = get_training_chat_template(tokenizer)
    except ValueError:
        return (
            None,
            None,
            (
                "the chat template has no {% generation %} markers and there is no training "
                "variant of its exact text in TRL or this package, so assistant-only loss cannot "
                "mask the prompts. Fix: write a copy with {% generation %} ... {% endgeneration %} "
                "around each assistant turn's content and its end-of-turn token, and pass "
                "--chat_template_path that.jinja (the saved student keeps its original template); "
                "or set assistant_only_loss: false to train the prompts too"
            ),
        )
    if variant is None:
        return original, None, None
    return (
        variant,
        (
            "the chat template has no {% generation %} markers: using TRL's training variant of it "
            "for the loss mask (the saved student keeps its original inference template)"
        ),
        None,
    )


def render(tokenizer, messages, template):
    return tokenizer.apply_chat_template(
        messages,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
        chat_template=template,
    )


def stop_token_id(tokenizer, template: str) -> int | None:
    """The token an assistant turn ends with inside its mask, when it is a special token.

    Rendered as user, assistant, user: some templates only terminate an assistant turn when a
    message follows it. None when the masked span ends on plain content (no EOS is trained).
    """
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "bye"},
    ]
    out = render(tokenizer, messages, template)
    added = set(tokenizer.get_added_vocab().values()) | set(tokenizer.all_special_ids)
    masked = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=False) if m]
    for token in reversed(masked):
        if tokenizer.decode([token]).strip() == "":
            continue
        return token if token in added else None
    return None
