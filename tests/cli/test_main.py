"""The `rdistill` entry point: every subcommand listed, and --help without heavy imports."""

from __future__ import annotations

import subprocess
import sys

from reasoning_distill.cli.main import SUBCOMMANDS, make_parser


def test_help_does_not_import_heavy_packages():
    code = (
        "import sys\n"
        "from reasoning_distill.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'vllm', 'trl', 'transformers', 'datasets') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_every_subcommand_parses_its_help():
    parser = make_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) <= set(SUBCOMMANDS)
    assert {"demo", "generate", "verify", "train", "gap"} <= set(sub.choices)


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "reasoning_distill.cli.main", "--version"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and out.stdout.startswith("rdistill ")
