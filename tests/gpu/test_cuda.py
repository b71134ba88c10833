"""CUDA checks: the transformers engine, the distillation losses and SFT on a real GPU.

Each test compares the GPU against the CPU reference where the result must not depend on the
device (greedy float32 text, float32 losses and gradients), and checks that the work really ran
on the GPU. Skipped without CUDA (tests/conftest.py); run by benchmarks/gpu_check.sh.
"""

from __future__ import annotations

import math

import pytest

from reasoning_distill.generation.engine import GenerationRequest, SamplingParams

pytestmark = pytest.mark.gpu


def _requests(k: int) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            f"q{i}", messages=[{"role": "user", "content": f"Compute {i} * {i + 2}. Think."}]
        )
        for i in range(k)
    ]


def _texts(results) -> list[list[tuple[str, str, int]]]:
    return [
        [(c.text, c.finish_reason, c.completion_tokens) for c in r.completions] for r in results
    ]


@pytest.fixture(scope="module")
def cuda_engine(gen_model_dir):
    from reasoning_distill.generation.hf_engine import HFEngine

    with HFEngine(gen_model_dir, batch_size=8, device="cuda") as engine:
        yield engine


def test_hf_engine_runs_on_cuda_with_consistent_counts(cuda_engine):
    assert next(cuda_engine._lm.parameters()).device.type == "cuda"
    reqs = _requests(5)
    reqs[3] = GenerationRequest("q3", messages=reqs[3].messages, sample_indices=[0, 2])
    params = SamplingParams(n=3, temperature=1.0, max_tokens=16, seed=7)
    out = cuda_engine.generate(reqs, params)
    assert [r.request_id for r in out] == [r.request_id for r in reqs]
    assert [c.index for c in out[3].completions] == [0, 2]
    for r in out:
        assert r.prompt_tokens > 0
        for c in r.completions:
            assert c.finish_reason in ("stop", "length")
            assert 0 < c.completion_tokens <= 16
            if c.finish_reason == "length":
                assert c.completion_tokens == 16
            assert "<|im_end|>" not in c.text
    # Seeded sampling on the GPU is reproducible for the same batches.
    assert _texts(cuda_engine.generate(reqs, params)) == _texts(out)


def test_hf_engine_greedy_cuda_equals_cpu(gen_model_dir, cuda_engine):
    from reasoning_distill.generation.hf_engine import HFEngine

    params = SamplingParams(n=1, temperature=0.0, max_tokens=24)
    with HFEngine(gen_model_dir, batch_size=8, device="cpu") as cpu_engine:
        cpu = cpu_engine.generate(_requests(6), params)
    gpu = cuda_engine.generate(_requests(6), params)
    assert _texts(gpu) == _texts(cpu)
    assert any(c.completion_tokens > 1 for r in cpu for c in r.completions), "nothing generated"


def _loss_case(seed: int, b: int = 4, t: int = 16, v: int = 1000):
    import torch

    g = torch.Generator().manual_seed(seed)
    student = torch.randn(b, t, v, generator=g) * 3
    teacher = torch.randn(b, t, v, generator=g) * 3
    labels = torch.randint(0, v, (b, t), generator=g)
    labels[0, :5] = -100  # a masked prompt
    labels[2, -3:] = -100  # masked padding
    # Large finite garbage at a masked position must not leak into the loss or the gradient.
    # (NaN garbage keeps the loss finite but not the gradient: masked_fill stops the value,
    # not the NaN that flows back through log_softmax.)
    student[2, -1] = 1e4
    return student, teacher, labels


def _loss_and_grad(fn, student, teacher, labels, device, dtype):
    s = student.to(device=device, dtype=dtype).detach().clone().requires_grad_(True)
    loss = fn(s, teacher.to(device=device, dtype=dtype), labels.to(device))
    loss.backward()
    return loss.detach(), s.grad.detach()


@pytest.mark.parametrize("name", ["reverse_kl_loss", "forward_kl_loss"])
def test_kl_losses_and_gradients_match_cpu(name):
    import torch

    from reasoning_distill.training import losses

    fn = getattr(losses, name)
    for seed in range(3):
        student, teacher, labels = _loss_case(seed)
        cpu_loss, cpu_grad = _loss_and_grad(fn, student, teacher, labels, "cpu", torch.float32)
        gpu_loss, gpu_grad = _loss_and_grad(fn, student, teacher, labels, "cuda", torch.float32)
        assert gpu_loss.device.type == "cuda" and gpu_loss.dtype == torch.float32
        assert cpu_loss.item() > 0.1
        assert gpu_loss.item() == pytest.approx(cpu_loss.item(), rel=1e-5)
        assert torch.isfinite(gpu_grad).all()
        assert gpu_grad[2, -3:].abs().max().item() == 0.0  # masked positions get no gradient
        torch.testing.assert_close(gpu_grad.cpu(), cpu_grad, rtol=1e-4, atol=1e-7)

        bf_loss, bf_grad = _loss_and_grad(fn, student, teacher, labels, "cuda", torch.bfloat16)
        # float32 arithmetic inside; only the bf16 rounding of the logits differs
        assert bf_loss.dtype == torch.float32
        assert bf_loss.item() == pytest.approx(cpu_loss.item(), rel=2e-2)
        assert bf_grad.dtype == torch.bfloat16 and torch.isfinite(bf_grad.float()).all()
        cos = torch.nn.functional.cosine_similarity(
            bf_grad.float().cpu().flatten(), cpu_grad.flatten(), dim=0
        )
        assert cos.item() > 0.99


def test_train_sft_on_cuda_lowers_loss_and_saves(student_dir, sft_rows, tmp_path):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback

    from reasoning_distill.generation.hf_engine import HFEngine
    from reasoning_distill.training.sft_config import StudentSFTConfig
    from reasoning_distill.training.sft_trainer import train_sft
    from tests.training.configs import STEADY, small_config

    seen: dict[str, object] = {}

    class Where(TrainerCallback):
        """Records where the model's weights sit during training."""

        def on_step_end(self, args, state, control, model=None, **kwargs):
            seen["device"] = next(model.parameters()).device.type

    bf16 = torch.cuda.is_bf16_supported()
    cfg = small_config(
        StudentSFTConfig,
        **STEADY,
        learning_rate=1e-2,
        bf16=bf16,
    )
    result = train_sft(student_dir, None, Dataset.from_list(sft_rows), tmp_path, cfg, [Where()])
    assert seen["device"] == "cuda"
    assert result.steps == 30
    assert result.last_loss < result.first_loss - 1.0, result.losses
    assert all(math.isfinite(x) for x in result.losses), result.losses

    before = AutoModelForCausalLM.from_pretrained(student_dir)
    after = AutoModelForCausalLM.from_pretrained(result.checkpoint)
    assert after.dtype == torch.float32  # bf16 autocast keeps float32 master weights
    moved = [
        n
        for (n, p0), (_, p1) in zip(
            before.named_parameters(), after.named_parameters(), strict=True
        )
        if not torch.equal(p0, p1)
    ]
    assert len(moved) == len(list(before.parameters()))
    # The saved student loads and generates on the GPU, greedily the same text as on the CPU
    # (the trained student writes varied traces, unlike the untrained model's repeats).
    reqs = [
        GenerationRequest(f"s{i}", messages=r["messages"][:1]) for i, r in enumerate(sft_rows[:6])
    ]
    greedy = SamplingParams(n=1, temperature=0.0, max_tokens=32)
    with HFEngine(result.checkpoint, device="cuda") as engine:
        gpu = engine.generate(reqs, greedy)
    with HFEngine(result.checkpoint, device="cpu") as engine:
        cpu = engine.generate(reqs, greedy)
    assert _texts(gpu) == _texts(cpu)
    assert len({c.text for r in gpu for c in r.completions}) > 1, _texts(gpu)


def test_forward_logits_cuda_match_cpu(gen_model_dir, cuda_engine):
    import torch
    from transformers import AutoModelForCausalLM

    cpu_model = AutoModelForCausalLM.from_pretrained(gen_model_dir, attn_implementation="eager")
    tok = cuda_engine.tokenizer
    ids = tok(["Compute 3 * 5. Think step by step."] * 2, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        want = cpu_model.eval()(ids).logits
        got = cuda_engine._lm(ids.to("cuda")).logits
    assert got.device.type == "cuda"
    torch.testing.assert_close(got.float().cpu(), want, rtol=1e-4, atol=1e-5)


def test_reverse_kl_stage_on_cuda_moves_student_toward_teacher(
    student_dir, sharp_teacher_dir, sft_rows, tmp_path
):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

    from reasoning_distill.training.distill_config import DistillConfig
    from reasoning_distill.training.distill_trainer import mean_reverse_kl, train_distill
    from tests.training.configs import STEADY, small_config

    seen: dict[str, object] = {}

    class Where(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            seen["device"] = next(model.parameters()).device.type

    tok = AutoTokenizer.from_pretrained(student_dir)
    teacher = AutoModelForCausalLM.from_pretrained(sharp_teacher_dir).eval()
    held_out = sft_rows[-8:]
    before = mean_reverse_kl(
        AutoModelForCausalLM.from_pretrained(student_dir), teacher, tok, held_out
    )
    cfg = small_config(
        DistillConfig,
        teacher=str(sharp_teacher_dir),
        **STEADY,
        learning_rate=5e-3,
        bf16=torch.cuda.is_bf16_supported(),
    )
    result = train_distill(student_dir, Dataset.from_list(sft_rows), tmp_path, cfg, [Where()])
    assert seen["device"] == "cuda"
    assert result.steps == 30
    assert all(math.isfinite(x) for x in result.losses), result.losses
    assert result.last_loss < result.first_loss, result.losses
    after = mean_reverse_kl(
        AutoModelForCausalLM.from_pretrained(result.checkpoint), teacher, tok, held_out
    )
    assert after < 0.7 * before, (before, after)
