"""Markup from data stays text: every Markdown (and HTML) output rendered through a CommonMark
renderer keeps no element or handler that came from a model name, a benchmark name, a
problem's text or a reason."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reasoning_distill.cli.main import main
from reasoning_distill.markdown import md_code, md_code_span, md_text
from tests.cli._eval_envelopes import envelope, teacher_student, write

markdown_it = pytest.importorskip("markdown_it")

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"
EVIL = f"{IMG}{SCRIPT}"
# Markdown's own ways in: a link, an image, a cell break, a code span closed early, an entity.
EVIL_MD = (
    "[x](javascript:alert(3)) ![i](http://h/i.png) a|b `</code><svg onload=alert(4)>` &lt;b&gt;"
)
FORBIDDEN = {"img", "script", "svg", "a", "iframe", "b"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


def _render(md: str) -> _Tags:
    """CommonMark with raw HTML on (as most renderers have it) and GFM tables."""
    html = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    parser = _Tags()
    parser.feed(html)
    return parser


def _assert_inert(md: str, *must_show: str) -> None:
    page = _render(md)
    bad = [(t, a) for t, a in page.tags if t in FORBIDDEN or any(k.startswith("on") for k, _ in a)]
    assert bad == [], bad
    text = "".join(page.text)
    for s in must_show:  # escaped, not dropped: the reader sees the name as it was given
        assert s in text, (s, text[:2000])


def _evil_envelopes(tmp: Path) -> tuple[Path, Path]:
    t, s = teacher_student()
    bench = f"toy{EVIL}"
    out = []
    for name, c in ((f"T{EVIL}", t), (f"S{EVIL_MD}", s)):
        env = envelope(name, c)
        env["benchmarks"] = {bench: env["benchmarks"]["toy_math"]}
        env["manifest"]["benchmarks"] = {bench: env["manifest"]["benchmarks"]["toy_math"]}
        for i, row in enumerate(env["benchmarks"][bench]["problems"]):
            row["meta"] = {"level": f"L{i % 2}{IMG}"}
        out.append(write(tmp / name.split("<")[0].split("[")[0], env))
    # A protocol difference quoted in the report: its value is data too.
    env = json.loads((out[1] / "results.json").read_text())
    env["manifest"]["engine"]["options"]["dtype"] = SCRIPT
    (out[1] / "results.json").write_text(json.dumps(env))
    return out[0], out[1]


def test_gap_md_and_html_keep_names_as_text(tmp_path):
    teacher, student = _evil_envelopes(tmp_path)
    out = tmp_path / "gap"
    argv = ["gap", "--teacher", str(teacher), "--student", str(student), "--out", str(out),
            "--allow-mismatch"]  # fmt: skip
    assert main(argv) == 0
    md = (out / "gap.md").read_text()
    _assert_inert(md, f"T{EVIL}", f"toy{EVIL}", f"L0{IMG}", SCRIPT, "a|b")
    # gap.html: only the embedded plots are images, and no handler from the data is there.
    page = _Tags()
    page.feed((out / "gap.html").read_text())
    assert all(
        t != "img" or dict(a)["src"].startswith("data:image/png;base64,") for t, a in page.tags
    )
    assert not any(t in ("script", "svg") for t, _ in page.tags)
    assert not any(k.startswith("on") for _, a in page.tags for k, _ in a)


def test_report_md_keeps_names_reasons_and_protocol_as_text(tmp_path):
    t, s = teacher_student()
    data = {
        "results": {f"b{EVIL}": {"teacher": t, f"s{EVIL_MD}": s}},
        "verification": {"generated": 8, "kept": 4, "by_reason": {"ok": 4, f"r{EVIL}": 4}},
        "protocol": {f"k{SCRIPT}": f"v{IMG}", "n": "```</code>" + SCRIPT},
        "targets": [{"name": f"t{EVIL}", "met": True, "detail": EVIL_MD}],
    }
    res = tmp_path / "results.json"
    res.write_text(json.dumps(data))
    argv = ["gap", "--results", str(res), "--out", str(tmp_path / "r"),
            "--compare", f"teacher:s{EVIL_MD}", "--title", f"My {EVIL}"]  # fmt: skip
    assert main(argv) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    _assert_inert(md, f"My {EVIL}", f"b{EVIL}", f"r{EVIL}", f"t{EVIL}", f"v{IMG}", "a|b")


def test_eval_summary_and_white_box_section_keep_names_as_text(tmp_path):
    from reasoning_distill.eval.results import summary_markdown

    from reasoning_distill.demo.white_box import section

    metrics = {
        "n": 2,
        "pass@1": {"value": 0.5, "ci95": [0.1, 0.9], "ci_method": "wilson"},
        "length": {"all": {"mean": 3.0, "p95": 4.0, "truncation_rate": 0.0}},
    }
    env = {"benchmarks": {f"b{EVIL}": {"metrics": metrics}}}
    _assert_inert(summary_markdown({f"m{EVIL_MD}": env}), f"b{EVIL}", "a|b")
    diff = {"diff": 0.1, "ci95": [-0.1, 0.3], "separated": False}
    report = {"comparisons": {f"b{EVIL}": {"verified_rkl vs verified_sft_eq": diff}}}
    multi = {
        "command": f"kd ``{SCRIPT}``",
        "settings": {"seeds": 3, "rkl_steps": 5, "heldout": {f"h{IMG}": 4}, "eval_n": 2},
        "answer": {
            "differences": {f"d{IMG}:off": {**diff, "per_seed": [0.1], "answer": f"a{SCRIPT}"}}
        },
    }
    _assert_inert(section(report, multi)["markdown"], f"b{EVIL}", f"h{IMG}", f"a{SCRIPT}")


def test_dataset_card_quotes_problem_text_and_names(tmp_path):
    from reasoning_distill.data_recipes.card import render_card

    info = {
        "title": f"set {EVIL}",
        "stages": {f"s{IMG}": 3},
        "pass_rate": {f"src{EVIL_MD}": {"generated": 4, "verified": 2}},
        "rejected": {f"why{SCRIPT}": 2},
        "benchmarks_checked": [f"bench{IMG}"],
        "contamination": {
            f"bench{IMG}": {
                "count": 1,
                "examples": [{"kind": "exact`", "benchmark_id": f"id{SCRIPT}", "text": EVIL}],
            }
        },
        "selection": {"k": 1, "note": "```\n" + SCRIPT},
        "recipe": "name: x\nteacher:\n  base_url: http://u:SECRET@h/v1\n```\n" + EVIL + "\n````",
        "extra": {"x": "````" + IMG},
    }
    card = render_card(info, 3)
    assert "SECRET" not in card
    _assert_inert(card, f"set {EVIL}", f"s{IMG}", f"why{SCRIPT}", f"id{SCRIPT}", EVIL)


@pytest.mark.parametrize(
    "value",
    ["a|b", "x\ny", "`code`", "a\\|b", "*x* _y_ ~~z~~", "[l](u)", EVIL, EVIL_MD, "n_samples"],
)
def test_md_helpers_round_trip_through_a_renderer(value):
    one_line = " ".join(value.split())
    row = f"| h |\n|---|\n| {md_text(value)} |\n"
    page = _render(row)
    assert [t for t, _ in page.tags] == ["table", "thead", "tr", "th", "tbody", "tr", "td"]
    assert "".join(page.text).replace("\n", "").endswith(one_line)
    span = _render(md_code_span(value, in_table=False))
    assert [t for t, _ in span.tags] == ["p", "code"]
    block = _render("\n".join(md_code(value + "\n```\n````")) + "\nafter\n")
    assert [t for t, _ in block.tags] == ["pre", "code", "p"]
    assert md_text("max_model_len") == "max_model_len"
