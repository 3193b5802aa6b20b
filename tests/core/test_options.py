"""layerdecomp/options.py: an option's declaration is its rule, its help line and its schema entry."""

from __future__ import annotations

import pytest

from layerdecomp import backends
from layerdecomp.errors import InvalidInput
from layerdecomp.options import JOB, LOAD, Choice, OptionSpec, job_options, option_names_error, split_options

STEPS = OptionSpec("steps", "int", 28, "Quality steps", "More steps: slower.", min=1, max=200)
MODE = OptionSpec("mode", "choice", "a", "Mode", "Which way.", choices=(Choice("a", "A"), Choice("b", "B")))
SEED = OptionSpec("seed", "seed", 0, "Variation", "Another try.")
WEIGHTS = OptionSpec("weights", "text", None, "Weights", "Where they are.", scope=LOAD)
SPECS = (STEPS, MODE, SEED, WEIGHTS)


@pytest.mark.parametrize("spec, value, words", [
    (STEPS, 0, "a whole number from 1 to 200, not 0"),
    (STEPS, 2.0, "a whole number from 1 to 200, not 2.0"),
    (STEPS, True, "a whole number"),
    (MODE, "c", "one of a, b, not 'c'"),
    (SEED, -1, "from 0 to 4294967295"),
    (SEED, "x" * 100, "not 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."),
])
def test_a_value_outside_its_rule_says_what_it_must_be(spec, value, words):
    with pytest.raises(InvalidInput) as info:
        spec.check(value, "test")
    assert f"the test backend's option {spec.name} must be" in str(info.value) and words in str(info.value)


def test_job_options_fill_the_defaults_under_the_given_and_refuse_names_not_per_job():
    assert job_options("t", SPECS, {}) == {"steps": 28, "mode": "a", "seed": 0}
    assert job_options("t", SPECS, {"steps": 3, "seed": None}, {"seed": 5}) == {"steps": 3, "mode": "a", "seed": 5}
    with pytest.raises(InvalidInput, match="weights is fixed when the t backend is loaded"):
        job_options("t", SPECS, {"weights": "/w"})
    with pytest.raises(InvalidInput, match=r"the t backend has no option colour \(per job it takes: mode, seed, "):
        job_options("t", SPECS, {"colour": 1})
    assert option_names_error("t", SPECS, ["steps", "seed"]) is None
    assert split_options("t", SPECS, {"weights": None, "steps": 4}) == ({"weights": None}, {"steps": 4})


def test_a_declaration_that_breaks_its_own_rule_is_refused():
    for make in (lambda: OptionSpec("x", "int", 0, "X", "h", min=1),
                 lambda: OptionSpec("x", "choice", "a", "X", "h"),
                 lambda: OptionSpec("x", "text", "", "X", "h", scope=JOB),
                 lambda: OptionSpec("x", "colour", 0, "X", "h")):
        with pytest.raises(ValueError):
            make()


def test_help_lines_and_schema_entries_come_from_the_declaration():
    assert STEPS.describe() == "steps (int 1..200, default 28): More steps: slower."
    assert MODE.describe() == "mode (a|b, default a): Which way."
    assert MODE.to_json() == {"name": "mode", "type": "choice", "default": "a", "label": "Mode", "help": "Which way.",
                              "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]}
    assert SEED.to_json()["min"] == 0 and SEED.to_json()["max"] == 2**32 - 1


@pytest.mark.parametrize("name", backends.registered_names())
def test_every_backend_declares_its_options_with_words_for_artists(name):
    cls = backends.backend_class(name)
    assert cls.label and cls.description and "\n" not in cls.description
    for spec in cls.option_specs:
        assert spec.label and spec.help and "\n" not in spec.help, spec
