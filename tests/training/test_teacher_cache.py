"""The top-k cache: codec round trip, build with a real tiny teacher, resume, refusals, and
training losses against it (k = vocabulary size equals the full loss)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from reasoning_distill.errors import ConfigError, OutputError
from reasoning_distill.training.losses import (
    distillation_loss,
    shift_labels,
    topk_distillation_loss,
)
from reasoning_distill.training.teachers import topk_codec
from reasoning_distill.training.teachers.cache import TopKCache, build_topk_cache, tokenize_messages
from reasoning_distill.training.teachers.local import HFTeacher, stack_topk, tail_from_topk
from tests.loopback import closed_port, loopback_server, model_list


@pytest.mark.parametrize("bits", [8, 16, 32])
def test_codec_round_trip(bits):
    rng = np.random.default_rng(0)
    n, k, v = 50, 16, 151_936
    ids = np.stack([rng.choice(v, size=k, replace=False) for _ in range(n)])
    lps = np.sort(rng.normal(-8, 3, size=(n, k)).clip(max=-0.01), axis=1).astype(np.float32)
    tail = rng.normal(-3, 1, size=n).astype(np.float32)
    codec = topk_codec.Codec(bits=bits, step=0.1 if bits == 8 else 0.001)
    data = topk_codec.encode(ids, lps, tail, codec)
    got_ids, got_lps, got_tail = topk_codec.decode(data, n, k, codec)
    order = np.argsort(ids, axis=1)
    assert (got_ids == np.take_along_axis(ids, order, axis=1)).all()
    want = np.take_along_axis(lps, order, axis=1)
    if bits == 32:
        assert (got_lps == want).all()
    else:
        assert np.abs(got_lps - np.maximum(want, codec.floor)).max() <= codec.step / 2 + 1e-6
    assert (got_tail == tail).all()


def test_codec_is_more_compact_than_fixed_width_ids_at_k_128():
    """DistillKit's fixed 18-bit ids alone take 288 bytes/token at k = 128, V = 151,936; the
    sorted-set ids plus 8-bit log-probs and the tail take less, all together."""
    rng = np.random.default_rng(1)
    n, k, v = 100, 128, 151_936
    ids = np.stack([rng.choice(v, size=k, replace=False) for _ in range(n)])
    ranks = np.log(np.arange(1, k + 1))
    lps = (-1.5 * ranks - 1 + rng.normal(0, 0.3, (n, k))).astype(np.float32)
    data = topk_codec.encode(ids, lps, np.full(n, -4.0, np.float32), topk_codec.Codec())
    assert len(data) / n < 288


def test_tail_from_topk():
    lp = np.log(np.array([[0.5, 0.25], [0.6, 0.4]]))
    tail = tail_from_topk(lp)
    assert tail[0] == pytest.approx(np.log(0.25), rel=1e-6) and np.isneginf(tail[1])


def _student_teacher(tiny_model_dir, sharp_teacher_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    student = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    teacher = AutoModelForCausalLM.from_pretrained(sharp_teacher_dir).eval()
    return tok, student, teacher


def _loss_against_cache(cache, tok, student, teacher, rows, divergence="reverse_kl"):
    """(cache loss, full loss, grad cosine) over `rows`, student logits from the model."""
    seqs = [tokenize_messages(tok, r["messages"], None) for r in rows]
    width = max(len(s) for s, _ in seqs)
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    labels = torch.full((len(seqs), width), -100)
    found = []
    for i, (s, pos) in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        for p in pos:
            labels[i, p + 1] = s[p + 1]
        hit = cache.lookup(s)
        assert hit is not None
        topk, covered = hit
        assert covered[pos].all() and covered.sum() == len(pos)
        found.append(topk)
    target = shift_labels(labels)
    k = found[0].k
    t_ids, t_lps, t_tail = (torch.from_numpy(a) for a in stack_topk(found, width, k))
    with torch.no_grad():
        t_logits = teacher(input_ids=ids).logits
    s_logits = student(input_ids=ids).logits.detach()
    a = s_logits.clone().requires_grad_(True)
    b = s_logits.clone().requires_grad_(True)
    full = distillation_loss(a, t_logits, target, divergence)
    top = topk_distillation_loss(b, t_ids, t_lps, t_tail, target, divergence)
    full.backward()
    top.backward()
    cos = torch.nn.functional.cosine_similarity(a.grad.flatten(), b.grad.flatten(), dim=0)
    return top.item(), full.item(), cos.item()


def test_cache_with_full_vocabulary_equals_full_loss(
    tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path
):
    tok, student, teacher = _student_teacher(tiny_model_dir, sharp_teacher_dir)
    v = teacher.config.vocab_size
    rows = train_rows[:6]
    summary = build_topk_cache(
        HFTeacher(teacher, k=v), tok, rows, tmp_path / "c", "sharp",
        codec=topk_codec.Codec(bits=32),
    )  # fmt: skip
    assert summary.sequences == 6 and summary.tokens > 0
    cache = TopKCache.open(tmp_path / "c")
    for divergence in ("reverse_kl", "forward_kl", "jsd"):
        top, full, cos = _loss_against_cache(cache, tok, student, teacher, rows, divergence)
        assert top == pytest.approx(full, rel=1e-5)
        assert cos == pytest.approx(1.0, abs=1e-5)


def test_error_shrinks_as_k_grows(tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path):
    """Quantised caches at growing k: the bucketed loss rises toward the full loss (it is a
    lower bound) and the gradient turns toward the full one."""
    tok, student, teacher = _student_teacher(tiny_model_dir, sharp_teacher_dir)
    rows = train_rows[:6]
    results = []
    for k in (8, 32, 128):
        folder = tmp_path / f"c{k}"
        build_topk_cache(HFTeacher(teacher, k=k), tok, rows, folder, "sharp")
        results.append(_loss_against_cache(TopKCache.open(folder), tok, student, teacher, rows))
    (v8, full, c8), (v32, _, c32), (v128, _, c128) = results
    assert v8 < v32 < v128 <= full + 1e-3, results
    assert c8 < c32 < c128 and c128 > 0.85, results


def test_resume_skips_stored_sequences_and_refuses_other_settings(
    tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path
):
    tok, _, teacher = _student_teacher(tiny_model_dir, sharp_teacher_dir)
    folder = tmp_path / "c"
    src = HFTeacher(teacher, k=8)
    first = build_topk_cache(src, tok, train_rows[:5], folder, "sharp", shard_sequences=2)
    assert first.sequences == 5 and len(list(folder.glob("shard-*"))) == 3
    # a temporary left by a killed writer (its pid no longer runs) is removed on resume
    (folder / ".shard-999999-00009.topk.tmp-999999").write_bytes(b"torn")
    again = build_topk_cache(src, tok, train_rows[:9], folder, "sharp", shard_sequences=2)
    assert again.sequences == 4 and again.skipped == 5
    assert not list(folder.glob(".*tmp*"))
    assert len(TopKCache.open(folder)) == 9
    with pytest.raises(ConfigError, match=r"k \(--top_k\): stored 8, asked 16"):
        build_topk_cache(HFTeacher(teacher, k=16), tok, train_rows[:2], folder, "sharp")
    other = tmp_path / "theirs"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="left untouched"):
        build_topk_cache(src, tok, train_rows[:2], other, "sharp")
    assert (other / "notes.txt").read_text() == "mine"


def test_lookup_is_by_content_not_row_number(
    tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path
):
    tok, _, teacher = _student_teacher(tiny_model_dir, sharp_teacher_dir)
    build_topk_cache(HFTeacher(teacher, k=4), tok, train_rows[:4], tmp_path / "c", "t")
    cache = TopKCache.open(tmp_path / "c")
    ids, pos = tokenize_messages(tok, train_rows[3]["messages"], None)
    topk, covered = cache.lookup(ids)
    with torch.no_grad():
        logits = teacher(input_ids=torch.tensor([ids])).logits[0, :-1]
    want = torch.log_softmax(logits, -1).topk(4, -1)
    got_sorted = np.sort(topk.ids[pos], axis=1)
    assert (got_sorted == np.sort(want.indices[pos].numpy(), axis=1)).all()
    assert cache.lookup(ids[:-1]) is None


def test_cache_command_line_builds_and_resumes(
    tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path, capsys
):
    import json

    from reasoning_distill.training.scripts.cache import main

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in train_rows[:5]))
    argv = ["--teacher", str(sharp_teacher_dir), "--tokenizer", str(tiny_model_dir),
            "--dataset_name", str(data), "--output_dir", str(tmp_path / "c"), "--top_k", "4"]  # fmt: skip
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["sequences"] == 5 and first["bytes_per_token"] > 0
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["sequences"] == 0 and again["skipped"] == 5
    with pytest.raises(ConfigError, match="exactly one"):
        main(["--dataset_name", str(data), "--output_dir", str(tmp_path / "d")])
    with pytest.raises(ConfigError, match="--batch_size"):
        main([*argv, "--batch_size", "0"])
    # the batch size reaches the scorer: one sequence per forward gives the same cache
    one = [*argv[:-3], str(tmp_path / "c1"), "--top_k", "4", "--batch_size", "1"]
    assert main(one) == 0
    capsys.readouterr()
    from reasoning_distill.training.teachers.cache import TopKCache

    a, b = TopKCache.open(tmp_path / "c"), TopKCache.open(tmp_path / "c1")
    assert sorted(a.keys()) == sorted(b.keys())


# ---- damaged shards, the index, the folder lock, the tokenizer, the server probe -------------


def _built(tiny_model_dir, sharp_teacher_dir, train_rows, folder, n=5):
    """A k = 4 cache of `n` rows in shards of 2 sequences: (tokenizer, teacher, shards)."""
    tok, _, teacher = _student_teacher(tiny_model_dir, sharp_teacher_dir)
    src = HFTeacher(teacher, k=4)
    build_topk_cache(src, tok, train_rows[:n], folder, "sharp", shard_sequences=2)
    return tok, src, sorted(folder.glob("shard-*.topk"))


def _keys_of(shard):
    from reasoning_distill.training.teachers.cache_shard import read_header

    return [key for key, _, _ in read_header(shard)[0]["rows"]]


def _ids_in(tok, rows, shard):
    from reasoning_distill.training.teachers.cache import sequence_key

    keys = set(_keys_of(shard))
    seqs = [tokenize_messages(tok, r["messages"], None)[0] for r in rows]
    return [s for s in seqs if sequence_key(s) in keys]


def test_truncated_shard_is_named_on_open_and_rebuilt_on_resume(
    tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path
):
    from reasoning_distill.training.teachers.cache_shard import DamagedShard

    folder = tmp_path / "c"
    tok, src, shards = _built(tiny_model_dir, sharp_teacher_dir, train_rows, folder)
    before = {p.name: p.read_bytes() for p in shards}
    victim = shards[1]
    victim.write_bytes(before[victim.name][:-40])
    with pytest.raises(DamagedShard, match=rf"{victim.name}: damaged .*truncated"):
        TopKCache.open(folder)
    again = build_topk_cache(src, tok, train_rows[:5], folder, "sharp", shard_sequences=2)
    assert again.rebuilt == [victim.name]
    assert again.sequences == 2 and again.skipped == 3  # only the damaged shard's sequences
    cache = TopKCache.open(folder)
    cache.verify()
    assert len(cache) == 5
    for p in shards:  # the other shards are untouched
        if p != victim:
            assert p.read_bytes() == before[p.name]


def test_byte_flipped_shard_is_named_not_an_lzma_error_and_rebuilt(
    tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path
):
    from reasoning_distill.training.teachers.cache import check_cache_matches
    from reasoning_distill.training.teachers.cache_shard import DamagedShard

    folder = tmp_path / "c"
    tok, src, shards = _built(tiny_model_dir, sharp_teacher_dir, train_rows, folder)
    victim = shards[0]
    data = bytearray(victim.read_bytes())
    data[len(data) - 30] ^= 0x5A  # inside the LZMA blob of the top-k arrays
    victim.write_bytes(bytes(data))
    cache = TopKCache.open(folder)  # same size: found when it is read
    seq = _ids_in(tok, train_rows[:5], victim)[0]
    with pytest.raises(DamagedShard, match=rf"{victim.name}: damaged .*SHA-256"):
        cache.lookup(seq)
    with pytest.raises(DamagedShard, match=victim.name):
        check_cache_matches(folder, tok)
    again = build_topk_cache(src, tok, train_rows[:5], folder, "sharp", shard_sequences=2)
    assert again.rebuilt == [victim.name] and again.sequences == 2
    assert TopKCache.open(folder).lookup(seq) is not None
    check_cache_matches(folder, tok)


def test_index_lists_every_shard_and_a_missing_one_is_scored_again(
    tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path
):
    import hashlib
    import json

    from reasoning_distill.errors import InputError

    folder = tmp_path / "c"
    tok, src, shards = _built(tiny_model_dir, sharp_teacher_dir, train_rows, folder)
    index = json.loads((folder / "manifest.json").read_text())["shards"]
    assert sorted(index) == [p.name for p in shards]
    for p in shards:
        assert index[p.name] == {
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
            "bytes": p.stat().st_size,
        }
    # a stop between listing a shard and renaming it in: listed, absent, scored again
    shards[2].unlink()
    again = build_topk_cache(src, tok, train_rows[:5], folder, "sharp", shard_sequences=2)
    assert again.sequences == 1 and again.rebuilt == []
    assert len(TopKCache.open(folder)) == 5
    # a shard the index does not list (copied in): refused by name, on read and on resume
    stranger = folder / "shard-1-00099.topk"
    stranger.write_bytes(shards[0].read_bytes())
    with pytest.raises(InputError, match="shard-1-00099.topk: a shard this cache's index"):
        TopKCache.open(folder)
    with pytest.raises(InputError, match="shard-1-00099.topk"):
        build_topk_cache(src, tok, train_rows[:5], folder, "sharp", shard_sequences=2)
    assert stranger.exists()


def test_a_cache_from_before_the_index_reads_and_resumes(
    tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path
):
    import json

    folder = tmp_path / "c"
    tok, src, shards = _built(tiny_model_dir, sharp_teacher_dir, train_rows, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["version"] = 1
    del manifest["shards"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert len(TopKCache.open(folder)) == 5
    again = build_topk_cache(src, tok, train_rows[:6], folder, "sharp", shard_sequences=2)
    assert again.sequences == 1 and again.skipped == 5
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == 2 and len(manifest["shards"]) == 4


def test_one_writer_per_cache_folder(tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path):
    from reasoning_distill.training.teachers.cache import _exclusive

    folder = tmp_path / "c"
    tok, src, _ = _built(tiny_model_dir, sharp_teacher_dir, train_rows, folder, n=2)
    with _exclusive(folder), pytest.raises(OutputError, match="another `rdistill train cache`"):
        build_topk_cache(src, tok, train_rows[:4], folder, "sharp")
    assert build_topk_cache(src, tok, train_rows[:4], folder, "sharp").sequences == 2


def test_cache_of_another_tokenizer_is_refused_naming_the_cache(
    tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path
):
    from transformers import AutoTokenizer

    from reasoning_distill.errors import InputError
    from reasoning_distill.training.teachers.cache import check_cache_matches

    folder = tmp_path / "c"
    tok, _, _ = _built(tiny_model_dir, sharp_teacher_dir, train_rows, folder, n=2)
    assert len(check_cache_matches(folder, tok)) == 2
    other = AutoTokenizer.from_pretrained(tiny_model_dir)
    other.chat_template = other.chat_template + "{# another template #}"
    with pytest.raises(InputError, match=rf"teacher cache {folder} was built with another"):
        check_cache_matches(folder, other)
    with pytest.raises(InputError, match="no top-k cache here"):
        check_cache_matches(tmp_path, tok)


def test_rows_the_template_cannot_render_are_named(
    tiny_model_dir, sharp_teacher_dir, train_rows, tmp_path
):
    from reasoning_distill.errors import InputError

    tok, _, teacher = _student_teacher(tiny_model_dir, sharp_teacher_dir)
    src = HFTeacher(teacher, k=4)
    rows = [train_rows[0], {"messages": "not a list"}]
    with pytest.raises(InputError, match="row 1: 'messages' must be a list"):
        build_topk_cache(src, tok, rows, tmp_path / "c", "t")
    prompts_only = [{"messages": [{"role": "user", "content": "hi"}]}] * 2
    with pytest.raises(InputError, match="none of the 2 rows has an assistant token"):
        build_topk_cache(src, tok, prompts_only, tmp_path / "d", "t")


@pytest.mark.parametrize(
    "status, body, needle",
    [
        (404, "<html><body>Not Found</body></html>", "answered HTTP 404 (text/html"),
        (200, "<html>an ordinary web page</html>", "answered text/html from "),
        (200, {"status": "ok"}, "JSON without a model list"),
        (200, model_list("teacher", owned_by="openai"), "owned by ['openai'], not 'vllm'"),
        (200, model_list("another-model"), "serves ['another-model']"),
    ],
    ids=["404 page", "html page", "json no list", "openai-compatible", "other model"],
)
def test_a_teacher_url_that_is_not_a_vllm_server_is_refused_saying_what_answered(
    status, body, needle
):
    from reasoning_distill.training.teachers.vllm_probe import probe_vllm_server

    with loopback_server(status, body) as url, pytest.raises(ConfigError, match=re.escape(needle)):
        probe_vllm_server(f"{url}/v1", "teacher")


def test_the_probe_accepts_vllm_and_names_an_unreachable_url_without_its_secret():
    from reasoning_distill.training.teachers.vllm_probe import probe_vllm_server

    with loopback_server(200, model_list("teacher")) as url:
        assert probe_vllm_server(f"{url}/v1", "teacher")["owned_by"] == "vllm"
    dead = f"http://user:SECRET@127.0.0.1:{closed_port()}/v1"
    with pytest.raises(ConfigError, match="is the server up") as e:
        probe_vllm_server(dead, "teacher", timeout=2)
    assert "SECRET" not in str(e.value)
    with pytest.raises(ConfigError, match="not an http"):
        probe_vllm_server("127.0.0.1:8000/v1", "teacher")


@pytest.mark.vllm
@pytest.mark.slow
def test_the_command_line_builds_from_a_real_vllm_server(
    vllm_teacher_dir, tiny_model_dir, train_rows, tmp_path
):
    """The probe accepts what a real `vllm serve` answers, and names the models it serves."""
    import json

    from reasoning_distill.training.scripts.cache import main
    from tests.training.test_served_teacher import vllm_server

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in train_rows[:3]))
    with vllm_server(vllm_teacher_dir, tmp_path / "vllm.log", max_logprobs=8) as url:
        base = ["--teacher_url", url, "--tokenizer", str(tiny_model_dir), "--dataset_name",
                str(data), "--output_dir", str(tmp_path / "c"), "--top_k", "4"]  # fmt: skip
        with pytest.raises(ConfigError, match=r"--teacher_name nope: .* serves \['teacher'\]"):
            main([*base, "--teacher_name", "nope"])
        assert not (tmp_path / "c").exists()
        assert main([*base, "--teacher_name", "teacher"]) == 0
    cache = TopKCache.open(tmp_path / "c")
    cache.verify()
    assert len(cache) == 3
