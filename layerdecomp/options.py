"""What a caller may set, as data: each backend declares its options once (``OptionSpec``), and this module
is the one place a job's options and geometry are checked against them.

Every client goes through here: the Python API (``Decomposer``), the command line, and the server (its
session asks ``option_names_error`` before the upload and ``check_geometry`` on the message; the worker's
``Decomposer.decompose`` checks the values). A refusal is an ``InvalidInput`` (code ``invalid_input``)
whose sentence names the option, what it must be and what was given.

The ``welcome`` message carries ``OptionSpec.to_json()`` of the loaded backend's per-job options, so the
Krita settings and the Photoshop panel draw their widgets from the same declaration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

from .crop import DEFAULT_GROW
from .errors import InvalidInput

# Where an option is set: per job (any client, every picture) or when the backend is loaded (the server's
# command line, ``Decomposer(...)``: weights, devices).
JOB, LOAD = "job", "load"
# int, float: numbers (in [min, max] when given); bool; choice: one of ``choices``' values; seed: a whole
# number from 0 to SEED_MAX that makes a run repeatable; text: free text (paths, device names; load only).
TYPES = ("int", "float", "bool", "choice", "seed", "text")
SEED_MAX = 2**32 - 1
# How much of a caller's value an error message quotes.
_QUOTE_CHARS = 40


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class OptionSpec:
    """One option of a backend: ``name`` as callers spell it, its ``type`` (one of ``TYPES``), its
    ``default`` (None: the backend decides), ``min``/``max`` for numbers, ``choices`` for a choice, its
    ``scope`` (``JOB`` or ``LOAD``), and for artists a ``label`` and a one-line ``help``."""

    name: str
    type: str
    default: Any
    label: str
    help: str
    scope: str = JOB
    min: Optional[float] = None
    max: Optional[float] = None
    choices: tuple[Choice, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in TYPES or self.scope not in (JOB, LOAD):
            raise ValueError(f"option {self.name}: type must be one of {TYPES} and scope job or load")
        if (self.type == "choice") != bool(self.choices):
            raise ValueError(f"option {self.name}: a choice, and only a choice, has choices")
        if self.type == "seed":
            object.__setattr__(self, "min", 0 if self.min is None else self.min)
            object.__setattr__(self, "max", SEED_MAX if self.max is None else self.max)
        if self.default is not None:
            self.check(self.default, "(declaration)")  # a default outside its own rule is a bug

    def check(self, value: Any, owner: str) -> Any:
        """``value`` as the backend gets it (an int stays an int, a float option takes an int); an
        ``InvalidInput`` naming the option and what it must be otherwise. ``owner``: the backend's name."""
        ok, kind = self._kind_of(value)
        if ok and self.type in ("int", "float", "seed"):
            ok = (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
        if not ok:
            raise InvalidInput(f"the {owner} backend's option {self.name} must be {kind}, not {_quote(value)}")
        return float(value) if self.type == "float" else value

    def _kind_of(self, value: Any) -> tuple[bool, str]:
        """(whether ``value`` is of this option's kind, the kind in words, range included)."""
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.type == "bool":
            return isinstance(value, bool), "true or false"
        if self.type == "choice":
            return value in [c.value for c in self.choices], "one of " + ", ".join(c.value for c in self.choices)
        if self.type == "text":
            return isinstance(value, (str, os.PathLike)), "text"
        kind = "a number" if self.type == "float" else "a whole number"
        return number and (self.type == "float" or isinstance(value, int)), kind + self._range_words()

    def _range_words(self) -> str:
        low, high = self.min, self.max
        if low is not None and high is not None:
            return f" from {_number(low)} to {_number(high)}"
        if low is not None:
            return f" of at least {_number(low)}"
        return f" of at most {_number(high)}" if high is not None else ""

    def describe(self) -> str:
        """One line for ``--help``: name, type and range or choices, default, help."""
        if self.type == "choice":
            kind = "|".join(c.value for c in self.choices)
        else:
            kind = self.type + (f" {_number(self.min)}..{_number(self.max)}"
                                if self.min is not None and self.max is not None and self.type != "seed" else "")
        default = "" if self.default is None else f", default {self.default}"
        return f"{self.name} ({kind}{default}): {self.help}"

    def to_json(self) -> dict[str, Any]:
        """The option as the ``welcome`` message's ``schema`` lists it (docs/protocol.md)."""
        entry: dict[str, Any] = {"name": self.name, "type": self.type, "default": self.default,
                                 "label": self.label, "help": self.help}
        if self.min is not None:
            entry["min"] = self.min
        if self.max is not None:
            entry["max"] = self.max
        if self.choices:
            entry["choices"] = [{"value": c.value, "label": c.label} for c in self.choices]
        return entry


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _QUOTE_CHARS else text[:_QUOTE_CHARS] + "..."


def _names(specs: Iterable[OptionSpec], scope: str) -> list[str]:
    return sorted(s.name for s in specs if s.scope == scope)


def option_names_error(owner: str, specs: Iterable[OptionSpec], names: Iterable[Any]) -> Optional[InvalidInput]:
    """The refusal for per-job option ``names`` that are not per-job options of backend ``owner`` (one
    fixed at load, or one it does not have), or None when every name is one."""
    specs = tuple(specs)
    given = set(names)
    load_only = sorted(n for n in given & set(_names(specs, LOAD)))
    if load_only:
        return InvalidInput(f"{', '.join(load_only)} is fixed when the {owner} backend is loaded (layerdecomp "
                            f"serve -O {load_only[0]}=..., or Decomposer({load_only[0]}=...)), not chosen per job")
    unknown = sorted(_quote(n) if not isinstance(n, str) or not n.isidentifier() else n
                     for n in given - {s.name for s in specs})
    if unknown:
        takes = ", ".join(_names(specs, JOB)) or "none"
        return InvalidInput(f"the {owner} backend has no option {', '.join(unknown[:5])} (per job it takes: {takes})")
    return None


def job_options(owner: str, specs: Iterable[OptionSpec], given: Mapping[str, Any],
                defaults: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """Every per-job option of backend ``owner``: ``given`` (checked) over ``defaults`` (checked when they
    were set) over each declaration's default. The one check of a job's options."""
    specs = tuple(specs)
    error = option_names_error(owner, specs, given)
    if error is not None:
        raise error
    values = {s.name: s.default for s in specs if s.scope == JOB}
    values.update(defaults or {})
    by_name = {s.name: s for s in specs}
    values.update({name: by_name[name].check(value, owner) for name, value in given.items() if value is not None})
    return values


def split_options(owner: str, specs: Iterable[OptionSpec],
                  given: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(load options, per-job defaults) from the options a backend is made with, each checked against
    its declaration; an option the backend does not have is refused."""
    specs = tuple(specs)
    by_name = {s.name: s for s in specs}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        takes = ", ".join(sorted(by_name)) or "none"
        raise InvalidInput(f"the {owner} backend has no option {', '.join(unknown[:5])} (it takes: {takes})")
    # None: the default for a per-job option; for a load option it is a value (depth_model=None: none).
    checked = {name: value if value is None else by_name[name].check(value, owner) for name, value in given.items()}
    load = {name: value for name, value in checked.items() if by_name[name].scope == LOAD}
    job = {name: value for name, value in checked.items() if by_name[name].scope == JOB and value is not None}
    return load, job


def seed_used(specs: Iterable[OptionSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"seed": n}`` for a backend with a seed option: with it the same result can be made again."""
    seeds = [s.name for s in specs if s.type == "seed" and s.scope == JOB]
    return {"seed": values[seeds[0]]} if seeds and values.get(seeds[0]) is not None else {}


def check_geometry(margin: Any, grow: Any, size: Optional[tuple[int, int]] = None) -> int:
    """The grow a job uses (``DEFAULT_GROW`` when None) after checking ``margin`` and ``grow`` (whole
    numbers, 0 or more; with the picture's ``size`` (width, height), a grow given at most its larger side).
    The edge (the server's session, the command line) and the core both ask here."""
    for name, value in (("margin", margin), ("grow", grow)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise InvalidInput(f"{name} must be a whole number of pixels, 0 or more, not {_quote(value)}")
    if grow is None:
        return DEFAULT_GROW  # on a picture smaller than that, the hole is as large as the picture
    if size is not None and grow > max(size):
        raise InvalidInput(f"grow {grow} reaches beyond the {size[0]} x {size[1]} picture; use at most {max(size)}")
    return grow
