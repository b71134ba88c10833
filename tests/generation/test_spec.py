"""The job spec and its preflight: every folder check before a model loads, nothing written."""

from __future__ import annotations

import pytest

from reasoning_distill.errors import ConfigError, InputError, OutputError
from reasoning_distill.generation.engine import SamplingParams
from reasoning_distill.generation.plan import count_samples, plan_requests
from reasoning_distill.generation.spec import MAX_SAMPLES, JobSpec, problems_hash
from reasoning_distill.generation.store import ManifestMismatchError, Store, StoreLockedError
from reasoning_distill.records import Problem

PARAMS = SamplingParams(n=2, max_tokens=8, seed=1)


def problems(k: int = 3) -> list[Problem]:
    return [Problem(id=f"p{i}", prompt=f"What is {i}?", gold=str(i)) for i in range(k)]


def spec(**kw) -> JobSpec:
    return JobSpec.for_problems(problems(), "hf", "tiny", PARAMS, **kw)


def test_identity_is_the_manifests_and_the_spec_round_trips():
    s = spec(system="be brief")
    assert s.identity() == {
        "engine": "hf",
        "model": "tiny",
        "sampling": PARAMS.to_dict(),
        "input_hash": problems_hash(problems()),
        "system": "be brief",
    }
    assert JobSpec.from_dict(s.to_dict()) == s


def test_preflight_of_a_new_folder_writes_nothing(tmp_path):
    spec().preflight(tmp_path / "a" / "b")
    assert list(tmp_path.iterdir()) == []


def test_preflight_refuses_another_spec_another_format_and_a_held_folder(tmp_path):
    s = spec()
    with (
        Store.open(tmp_path, s.identity(), format="jsonl"),
        pytest.raises(StoreLockedError, match="another generation job"),
    ):
        s.preflight(tmp_path)
    s.preflight(tmp_path)  # the lock file stays, but nobody holds it
    other = JobSpec.for_problems(problems(), "hf", "tiny", SamplingParams(n=2, temperature=1.0))
    with pytest.raises(ManifestMismatchError, match="sampling.temperature"):
        other.preflight(tmp_path)
    parquet = JobSpec.for_problems(problems(), "hf", "tiny", PARAMS, format="parquet")
    with pytest.raises(ConfigError, match="--format jsonl"):
        parquet.preflight(tmp_path)


def test_preflight_refuses_a_folder_of_other_files(tmp_path):
    (tmp_path / "thesis.tex").write_text("years of work\n")
    with pytest.raises(OutputError, match=r"did not write \(thesis.tex\)"):
        spec().preflight(tmp_path)
    assert (tmp_path / "thesis.tex").read_text() == "years of work\n"


def test_absurd_sizes_and_duplicate_ids_are_refused_before_planning():
    with pytest.raises(ConfigError, match="3 problems x 1,000,000,000 samples each"):
        JobSpec.for_problems(problems(), "hf", "m", SamplingParams(n=1_000_000_000))
    dup = [*problems(), Problem(id="p1", prompt="again", gold=None)]
    with pytest.raises(InputError, match="duplicated: 'p1'"):
        JobSpec.for_problems(dup, "hf", "m", PARAMS)


def test_planning_names_only_the_missing_samples_and_a_fresh_problem_stays_a_range():
    reqs = plan_requests(
        problems(2), 4, {("p0", 1), ("p0", 3), ("p1", 0), ("p1", 1), ("p1", 2), ("p1", 3)}
    )
    assert [(r.request_id, list(r.indices(4))) for r in reqs] == [("p0", [0, 2])]
    # Nothing stored: a range, not MAX_SAMPLES numbers in a list.
    fresh = plan_requests(problems(1), MAX_SAMPLES, set())
    assert isinstance(fresh[0].sample_indices, range)
    assert count_samples(fresh, MAX_SAMPLES) == MAX_SAMPLES
