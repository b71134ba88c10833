"""What a training stage loads: its data, checked row by row, its tokenizer and its model.

`load_train_dataset` takes a `datasets.Dataset`, a `save_to_disk` folder, a JSONL file or a
Hub id. A JSONL file's `messages` are checked as they are read (a list of `{role, content}`
objects on every line), so a row of another shape is named by its line instead of surfacing
as pyarrow's `ArrowInvalid`. `check_trainable_rows` refuses, before any weights load, what the
trainer would otherwise stop on late or train silently wrong: no rows, and rows with no
assistant turn under assistant-only loss (nothing of theirs would be trained).
`load_tokenizer` and `load_causal_lm` take a folder, a Hub id or the object itself;
`with_model_context` fills an unset `max_length` with the model's context, read from its
config alone; `quiet_progress` silences datasets' and transformers' own bars.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reasoning_distill.errors import ConfigError, InputError

if TYPE_CHECKING:
    from reasoning_distill.training.sft_config import StudentSFTConfig

logger = logging.getLogger(__name__)


def load_train_dataset(source: Any, config_name: str | None = None, split: str = "train"):
    """A `datasets.Dataset` from a Dataset, a `save_to_disk` folder, a JSONL file or a Hub id
    (`owner/name`, with `config_name` and `split`).

    Loaded into memory: TRL's tokenisation `map` would otherwise write cache files into the
    dataset's own folder (someone else's artifact).
    """
    from datasets import Dataset, DatasetDict

    if isinstance(source, Dataset):
        return source
    if source is None:
        raise InputError("no training dataset given: set dataset_name (a folder or a .jsonl)")
    path = Path(source)
    if path.is_dir():
        ds = _load_folder(path)
        if isinstance(ds, DatasetDict):
            if split not in ds:
                raise InputError(
                    f"dataset folder {path} holds splits {list(ds)}; expected a '{split}' split"
                )
            ds = ds[split]
        if len(ds) == 0:
            raise InputError(f"dataset folder {path} holds no rows")
        return ds
    if path.suffix in (".jsonl", ".json") and path.is_file():
        return _load_jsonl(path)
    if not path.exists() and looks_like_hub_id(str(source)):
        return _load_hub_dataset(str(source), config_name, split)
    raise InputError(
        f"no dataset at {path} (expected a save_to_disk folder, a .jsonl file or a Hub id)"
    )


def _load_folder(path: Path):
    import pyarrow as pa
    from datasets import load_from_disk

    try:
        return load_from_disk(str(path), keep_in_memory=True)
    except FileNotFoundError as e:  # empty, or not written by save_to_disk
        raise InputError(
            f"dataset folder {path} is not a saved dataset (no dataset_info.json / "
            f"state.json from save_to_disk): give a save_to_disk folder or a .jsonl file"
        ) from e
    except IndexError as e:  # datasets 4 cannot load a dataset saved with no rows (no shards)
        raise InputError(f"dataset folder {path} holds no rows (no data shards)") from e
    except (pa.ArrowException, ValueError) as e:
        raise InputError(f"dataset folder {path} cannot be read: {e}".splitlines()[0]) from e


def _load_jsonl(path: Path):
    import pyarrow as pa
    from datasets import Dataset

    from reasoning_distill.jsonl import iter_jsonl

    rows = []
    for lineno, row in iter_jsonl(path):  # one line naming file:line for bad JSON or UTF-8
        if "messages" in row or (rows and "messages" in rows[0]):
            problem = messages_problem(row.get("messages"))
            if problem:
                raise InputError(f"{path}:{lineno}: {problem}")
        rows.append(row)
    if not rows:
        raise InputError(f"{path} holds no rows")
    try:
        return Dataset.from_list(rows)
    except (pa.ArrowException, TypeError, ValueError) as e:
        raise InputError(
            f"{path}: its rows do not give each column one type ({e}): make every row's "
            f"fields alike".splitlines()[0]
        ) from e


def messages_problem(messages: Any) -> str | None:
    """What is wrong with one row's `messages`, or None: a list of `{role, content}` objects
    whose role is a string and whose content is a string (or null)."""
    if not isinstance(messages, list):
        return f"'messages' must be a list of {{role, content}} objects, got {_kind(messages)}"
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return f"messages[{i}] must be a {{role, content}} object, got {_kind(m)}"
        if not isinstance(m.get("role"), str):
            return f"messages[{i}].role must be a string, got {_kind(m.get('role'))}"
        if m.get("content") is not None and not isinstance(m["content"], str):
            return f"messages[{i}].content must be a string, got {_kind(m['content'])}"
    return None


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def check_trainable_rows(dataset, where: Any, assistant_only_loss: bool) -> None:
    """Raise `InputError` for an empty dataset, or, under assistant-only loss, for rows with no
    assistant turn (naming the first and how many)."""
    name = where if isinstance(where, (str, Path)) else "the training dataset"
    if len(dataset) == 0:
        raise InputError(f"{name} holds no rows")
    if not assistant_only_loss or "messages" not in dataset.column_names:
        return
    bad: list[int] = []
    row = 0
    for batch in dataset.select_columns(["messages"]).iter(batch_size=1024):
        for messages in batch["messages"]:
            if not any(
                isinstance(m, dict) and m.get("role") == "assistant" for m in messages or ()
            ):
                bad.append(row)
            row += 1
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise InputError(
            f"row {bad[0]} of {name}{more} has no assistant turn: assistant-only loss would "
            f"train nothing of it. Drop such rows, or set assistant_only_loss: false"
        )


def looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def _load_hub_dataset(name: str, config_name: str | None, split: str):
    from datasets import load_dataset

    try:
        return load_dataset(name, config_name, split=split)
    except Exception as e:  # offline, no such dataset, no such split: say which, once
        raise InputError(f"cannot load the dataset {name} ({split} split) from the Hub: {e}") from e


def load_tokenizer(tokenizer: Any, model_path: Any = None):
    """The tokenizer object, loading it from a path (or from `model_path` when None)."""
    from transformers import AutoTokenizer

    if tokenizer is None:
        if not isinstance(model_path, (str, Path)):
            raise ConfigError("pass a tokenizer when the model is given as an object")
        tokenizer = model_path
    if isinstance(tokenizer, (str, Path)):
        try:
            return AutoTokenizer.from_pretrained(str(tokenizer))
        except OSError as e:  # no such folder, or a Hub id that cannot be fetched (offline)
            raise InputError(f"cannot load the tokenizer {tokenizer}: {e}".splitlines()[0]) from e
    return tokenizer


def load_causal_lm(model_path_or_model: Any, model_args=None):
    """A causal LM from a folder (or the given object, as it is).

    Without `model_args` (a `trl.ModelConfig`): float32 with eager attention (faster than SDPA
    for tiny models on a CPU). With it, its `dtype` and `attn_implementation` (SDPA on a GPU
    when unset).
    """
    import torch
    from transformers import AutoModelForCausalLM

    if not isinstance(model_path_or_model, (str, Path)):
        return model_path_or_model
    path = Path(model_path_or_model)
    if not (path / "config.json").is_file():
        raise InputError(f"no model checkpoint at {path} (config.json missing)")
    dtype: Any = torch.float32
    attn = "eager"
    if model_args is not None:
        if model_args.dtype not in (None, "auto"):
            dtype = getattr(torch, model_args.dtype)
        elif model_args.dtype == "auto":
            dtype = "auto"
        attn = model_args.attn_implementation or ("sdpa" if torch.cuda.is_available() else "eager")
    return AutoModelForCausalLM.from_pretrained(str(path), attn_implementation=attn, dtype=dtype)


def model_context(model_path_or_model: Any) -> int | None:
    """The model's context length from its config (no weights loaded)."""
    from transformers import AutoConfig

    if isinstance(model_path_or_model, (str, Path)):
        try:
            cfg = AutoConfig.from_pretrained(str(model_path_or_model))
        except OSError as e:
            raise InputError(
                f"cannot load the model config of {model_path_or_model}: {e}".splitlines()[0]
            ) from e
    else:
        cfg = model_path_or_model.config
    return getattr(cfg.get_text_config(), "max_position_embeddings", None)


def with_model_context(config: StudentSFTConfig, model_path_or_model: Any) -> StudentSFTConfig:
    """`config` with `max_length=None` made the model's context (unless padding-free without
    packing, where TRL needs None)."""
    if config.max_length is not None or (config.padding_free and not config.packing):
        return config
    context = model_context(model_path_or_model)
    if context is None:
        return config
    logger.info("max_length unset: using the model's context, %d tokens", context)
    return replace(config, max_length=context)


@contextlib.contextmanager
def quiet_progress(disable: bool) -> Iterator[None]:
    """Silence datasets' and transformers' own progress bars while `disable` is set."""
    if not disable:
        yield
        return
    import datasets
    import transformers

    ds_was_on = datasets.is_progress_bar_enabled()
    tf_was_on = transformers.utils.logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        if ds_was_on:
            datasets.enable_progress_bars()
        if tf_was_on:
            transformers.utils.logging.enable_progress_bar()
