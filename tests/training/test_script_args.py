"""A training command's unknown recipe key or flag is named in one line, with the nearest
known name, instead of transformers' advice to its own authors."""

from __future__ import annotations

import pytest

from reasoning_distill.errors import ConfigError
from reasoning_distill.training.scripts.args import parse_config_args, unknown_text


def test_unknown_keys_are_named_with_the_nearest_known_one():
    names = ["learning_rate", "max_steps"]
    assert unknown_text(["--learning_rat", "1e-5"], names) == (
        "unknown option 'learning_rat' (did you mean 'learning_rate'?)"
    )
    assert unknown_text(["--max-step=3", "--colour", "red"], names, "unknown recipe key") == (
        "unknown recipe keys 'max_step' (did you mean 'max_steps'?), 'colour'"
    )


@pytest.mark.parametrize(
    ("recipe", "flags", "needle"),
    [
        ("learning_rat: 1.0e-5\n", [], "unknown recipe key 'learning_rat' (did you mean "),
        ("max_steps: 3\n", ["--learnin_rate", "3"], "unknown option 'learnin_rate' (did you mean "),
    ],
)
def test_a_misspelt_key_in_a_recipe_or_a_flag_is_one_clear_line(tmp_path, recipe, flags, needle):
    from reasoning_distill.training.sft_config import SFTScriptArguments, StudentSFTConfig

    path = tmp_path / "r.yaml"
    path.write_text(recipe)
    argv = ["--config", str(path), "--output_dir", str(tmp_path / "o"), *flags]
    with pytest.raises(ConfigError) as e:
        parse_config_args([SFTScriptArguments, StudentSFTConfig], argv)
    msg = str(e.value)
    assert needle in msg and "'learning_rate'?)" in msg and msg.endswith(f"(recipe {path})")
    assert "fail_with_unknown_args" not in msg and "HfArgumentParser" not in msg
