"""The README's command sections against the commands' own `--help`: every flag the README names exists,
with the same metavar, the same choices and the same default."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
# README section -> the command whose --help it must agree with.
SECTIONS = {"## The command": "decompose", "## The local server": "serve"}


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(title + "\n")
    end = text.find("\n## ", start + len(title))
    return text[start:end if end != -1 else None]


def _help_options(command: str) -> dict[str, dict]:
    """``--flag`` (and each alias) -> {"metavar", "choices", "default"}, read from the printed help."""
    env = dict(os.environ, COLUMNS="200")  # one line per option where it fits: fewer wraps to undo
    done = subprocess.run([sys.executable, "-m", "layerdecomp", command, "--help"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    options_text = done.stdout.split("\noptions:\n", 1)[1]
    options = {}
    for block in re.split(r"\n(?=  -)", options_text):
        invocation, *rest = re.split(r"\s{2,}", block.strip(), maxsplit=1)
        help_text = " ".join(" ".join(rest).split())
        default = re.search(r"\(default: ([^()]*)\)$", help_text)
        entry = {"metavar": None, "choices": None, "default": default.group(1) if default else None}
        for alias in invocation.split(", "):
            flag, _, value = alias.partition(" ")
            if value.startswith("{"):
                entry["choices"] = value.strip("{}").split(",")
            elif value:
                entry["metavar"] = value
            options[flag] = entry
    return options


def _synopsis(section: str) -> list[tuple[str, str | None]]:
    """The flags of the section's first code block, each with the word after it (or None)."""
    block = section.split("```\n", 2)[1]
    words = block.replace("[", " ").replace("]", " ").replace("...", " ").split()
    pairs = []
    for i, word in enumerate(words):
        if word.startswith("-"):
            following = words[i + 1] if i + 1 < len(words) else None
            pairs.append((word, None if following is None or following.startswith("-") else following))
    return pairs


def _bullet_defaults(section: str) -> dict[str, str]:
    """``--flag`` -> the default its bullet ("- `--flag`: ...") states in words."""
    stated = {}
    for bullet in re.findall(r"^- `(--[\w-]+)`: (.*?)(?=^- |^\S|\Z)", section, re.M | re.S):
        flag, text = bullet[0], " ".join(bullet[1].split())
        if found := re.search(r"\(default:? ([^()]*)\)", text):
            stated[flag] = re.sub(r" px$", "", found.group(1))
        elif found := re.search(r"pictures over (\d+) × (\d+) pixels are refused", text):
            stated[flag] = str(int(found.group(1)) * int(found.group(2)))
    return stated


@pytest.mark.parametrize("title", SECTIONS)
def test_the_readme_states_the_flags_and_defaults_that_help_prints(title):
    section, options = _section(title), _help_options(SECTIONS[title])
    synopsis = _synopsis(section)
    assert synopsis, f"README {title!r}: no flags found in its first code block"
    for flag, word in synopsis:
        assert flag in options, f"README {title!r} names {flag}, which `{SECTIONS[title]} --help` does not know"
        option = options[flag]
        if word is None:
            continue
        if "|" in word:
            assert word.split("|") == option["choices"], (flag, word, option)
        elif word.isupper() or "=" in word:
            assert word == option["metavar"], (flag, word, option)
        else:  # a value: the README shows the default, as `[--port 8765]` does
            assert word == option["default"], (flag, word, option)
    for flag, default in _bullet_defaults(section).items():
        assert flag in options, f"README {title!r} describes {flag}, which `--help` does not know"
        assert default == options[flag]["default"], (
            f"README {title!r} says {flag} defaults to {default!r}; --help says {options[flag]['default']!r}")


def test_the_comparison_reads_what_it_compares():
    """The parsers above find what they must, so that the test above cannot pass by reading nothing."""
    decompose = _help_options("decompose")
    assert decompose["--grow"]["default"] == "12" and decompose["-O"] is decompose["--option"]
    assert decompose["--backend"]["choices"][:2] == ["auto", "classical"] and decompose["--out"]["metavar"] == "DIR"
    stated = _bullet_defaults(_section("## The command"))
    assert {"--grow", "--margin", "--max-pixels"} <= set(stated), stated
    assert ("--port", "8765") in _synopsis(_section("## The local server"))
