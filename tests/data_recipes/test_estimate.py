"""`rdistill build RECIPE --dry-run` states traces, disk and time per stage as an estimate,
from rates measured here, and writes nothing."""

from __future__ import annotations

import json

from reasoning_distill.data_recipes.estimate import BYTES_PER_TOKEN, ROW_OVERHEAD, estimate

from reasoning_distill.cli.main import main
from tests.data_recipes._build_inputs import write_recipe, write_sources


def _tree(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*"))


def test_dry_run_states_the_cost_and_writes_nothing(tmp_path, capsys):
    counts = write_sources(tmp_path)
    recipe = write_recipe(tmp_path, tmp_path / "no-such-model")
    before = _tree(tmp_path)
    assert main(["build", str(recipe), "--root", str(tmp_path), "--dry-run"]) == 0
    assert _tree(tmp_path) == before
    captured = capsys.readouterr().out
    plan = json.loads(captured[captured.index("{") : captured.rindex("}") + 1])
    est = plan["estimate"]
    problems = plan["problems before dedupe"]
    assert problems == counts["math"] + counts["code"]
    assert est["traces"] == problems * 2  # the recipe samples n: 2
    assert "estimate" in est["note"] and "measured on this machine" in est["note"]
    assert set(est["disk (at most)"]) == {"generation store", "dataset"}
    assert set(est["time"]) >= {"problems (dedupe, decontaminate)", "verify", "select and write"}
    assert all(v > 0 for v in est["measured rates (items/s)"].values())
    assert "estimate" in captured[captured.rindex("}") :] and "verify:" in captured


def test_disk_grows_with_the_traces_and_their_token_budget():
    small = estimate(10, 4, 1_000, kinds={"math"}, parquet=True, workers=1)
    assert small["traces"] == 40
    per_trace = 1_000 * BYTES_PER_TOKEN + ROW_OVERHEAD
    assert small["disk (at most)"]["generation store"] == f"{40 * per_trace / 1e3:.1f} KB"
    assert small["disk (at most)"]["dataset"] == f"{2 * 40 * per_trace / 1e3:.1f} KB"
    big = estimate(1_000_000, 4, 16_000, kinds={"code"}, parquet=False, workers=1)
    assert big["disk (at most)"]["generation store"].endswith("GB")
    assert "not estimated for code" in big["time"]["verify"]


def test_a_hub_source_it_cannot_read_is_named_and_the_figures_say_they_leave_it_out(
    tmp_path, capsys
):
    counts = write_sources(tmp_path)
    recipe = write_recipe(tmp_path, tmp_path / "no-such-model")
    text = recipe.read_text()
    hub = "  - name: offline_hub\n    hf: {id: no-such-org/no-such-dataset}\n    kind: math\n"
    recipe.write_text(text.replace("sources:\n", "sources:\n" + hub, 1))
    assert main(["build", str(recipe), "--root", str(tmp_path), "--dry-run"]) == 0
    captured = capsys.readouterr().out
    plan = json.loads(captured[captured.index("{") : captured.rindex("}") + 1])
    assert plan["uncounted sources"] == ["offline_hub"]
    hub_row = next(s for s in plan["sources"] if s["name"] == "offline_hub")
    assert hub_row["problems"].startswith("unavailable (")
    assert "point `path:` at the local copy" in hub_row["problems"]  # the advice is kept
    assert plan["problems before dedupe"] == counts["math"] + counts["code"]
    assert "offline_hub could not be read" in plan["estimate"]["note"]
    assert "lower bound" in plan["estimate"]["note"]
