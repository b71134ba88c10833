"""gap.html renders in a real headless Chromium: a screenshot, every image loads, every table."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from reasoning_distill.eval.gap import build_gap, write_gap

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh --dev installs it)"
)
GOLDEN = json.loads((Path(__file__).parent / "golden" / "gap_small.json").read_text())
BENCHES = ("toy_math", "toy_code")

# Appended to a copy of the page only: after load it writes each image's state into the DOM.
PROBE = (
    "<script>window.addEventListener('load',()=>{const s=[...document.images].map("
    "i=>[i.complete,i.naturalWidth,i.naturalHeight]);const p=document.createElement('pre');"
    "p.id='probe';p.textContent=JSON.stringify(s);document.body.appendChild(p);});</script>"
)


def _env(name: str, correct: dict) -> dict:
    manifest = {"engine": {"name": "hf"}, "sampling": {"n": 2},
                "benchmarks": {b: {"id": b} for b in BENCHES}}  # fmt: skip
    problems = [{"id": k, "correct": v, "tokens": [7, 9], "finish": ["stop", "stop"], "meta": {}}
                for k, v in correct.items()]  # fmt: skip
    return {
        "model": {"name": name},
        "manifest": manifest,
        "benchmarks": {b: {"problems": copy.deepcopy(problems)} for b in BENCHES},
    }


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp / 'profile'}"]  # fmt: skip
    return subprocess.run(
        [CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gap")
    gap = build_gap(
        _env("teacher", GOLDEN["teacher"]),
        {"student": _env("student", GOLDEN["student"]), "other": _env("other", GOLDEN["teacher"])},
    )
    write_gap(gap, out)
    return out / "gap.html"


def test_page_is_self_contained(page: Path) -> None:
    html = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html)
    assert html.count("data:image/png;base64,") == 1 + len(BENCHES)
    assert "<script" not in html


@needs_chromium
def test_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    proc = _chromium(f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri(), tmp=tmp_path)
    assert shot.is_file() and shot.stat().st_size > 10_000, proc.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    proc = _chromium("--virtual-time-budget=5000", "--dump-dom", probed.as_uri(), tmp=tmp_path)
    dom = proc.stdout
    state = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom).group(1))
    assert len(state) == 1 + len(BENCHES)
    assert all(complete and w > 100 and h > 100 for complete, w, h in state), state
    for bench in BENCHES:
        section = re.search(
            rf'<section class="benchmark" id="bench-{bench}">(.*?)</section>', dom, re.S
        )
        assert section, bench
        # Two students: a problem table for each, with the four cells filled in.
        tables = re.findall(r'<table class="problem-table">.*?</table>', section.group(1), re.S)
        assert len(tables) == 2 and "solved by both" in tables[0]
    assert '<table class="summary">' in dom
