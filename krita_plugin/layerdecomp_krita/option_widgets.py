"""A form drawn from a server's option schema (``welcome.schema``, docs/protocol.md): one widget an
option, labelled and explained in the backend's own words, so a new option needs no plugin change.

    form = OptionForm(schema, values)     # values: {name: value} set before (others start at their default)
    form.values()                         # {name: value} the artist set: given before, or moved off the default

A ``seed`` option gets a spin box whose lowest setting reads "different each time", where it starts
unless a seed was given: left there, it is absent from ``values()`` (``settings.Settings.backend_options``
draws a fresh seed for each job). An entry of a type this plugin does not know is left out (a newer server
may offer more).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from .qt import QtWidgets
from .settings import SEED_MAX, fits

# Qt's spin boxes hold 32-bit signed integers.
_INT_LIMIT = 2**31 - 1
RANDOM_SEED_TEXT = "different each time"


def _int_range(entry: dict) -> tuple[int, int]:
    low, high = entry.get("min"), entry.get("max")
    low = -_INT_LIMIT if low is None else max(-_INT_LIMIT, int(low))
    high = _INT_LIMIT if high is None else min(_INT_LIMIT, int(high))
    return low, max(low, high)


def _spin_box(entry: dict, value: Any) -> tuple[QtWidgets.QSpinBox, Callable[[], Any]]:
    box = QtWidgets.QSpinBox()
    box.setRange(*_int_range(entry))
    box.setValue(int(value))
    return box, box.value


def _seed_box(entry: dict, value: Any) -> tuple[QtWidgets.QSpinBox, Callable[[], Any]]:
    box = QtWidgets.QSpinBox()
    low = max(0, int(entry.get("min", 0)))
    high = min(SEED_MAX, int(entry.get("max", SEED_MAX)))
    box.setRange(low - 1, max(low, high))  # one below the lowest seed: a fresh one each job
    box.setSpecialValueText(RANDOM_SEED_TEXT)
    box.setValue(int(value) if value is not None else low - 1)
    return box, lambda: None if box.value() < low else box.value()


def _float_box(entry: dict, value: Any) -> tuple[QtWidgets.QDoubleSpinBox, Callable[[], Any]]:
    box = QtWidgets.QDoubleSpinBox()
    low, high = entry.get("min"), entry.get("max")
    box.setDecimals(2)
    box.setRange(-1e9 if low is None else float(low), 1e9 if high is None else float(high))
    box.setValue(float(value))
    return box, box.value


def _check_box(entry: dict, value: Any) -> tuple[QtWidgets.QCheckBox, Callable[[], Any]]:
    box = QtWidgets.QCheckBox()
    box.setChecked(bool(value))
    return box, box.isChecked


def _combo_box(entry: dict, value: Any) -> tuple[QtWidgets.QComboBox, Callable[[], Any]]:
    box = QtWidgets.QComboBox()
    for choice in entry.get("choices", []):
        box.addItem(str(choice.get("label") or choice.get("value")), choice.get("value"))
    box.setCurrentIndex(max(0, box.findData(value)))
    return box, box.currentData


# schema type -> how its widget is made: (widget, read its value)
_MAKERS = {"int": _spin_box, "seed": _seed_box, "float": _float_box, "bool": _check_box, "choice": _combo_box}


class OptionForm(QtWidgets.QWidget):
    """The widgets for ``schema``'s options in a form layout, starting at ``values`` where they fit the
    option (else its default)."""

    def __init__(self, schema: list, values: Optional[dict] = None, parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("layerdecomp-options")
        values = values or {}
        layout = QtWidgets.QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._readers: dict[str, Callable[[], Any]] = {}
        self._widgets: dict[str, QtWidgets.QWidget] = {}
        self._defaults: dict[str, Any] = {}
        self._given: set = set()
        for entry in schema:
            make = _MAKERS.get(entry.get("type"))
            name = entry.get("name")
            if make is None or not isinstance(name, str):
                continue
            given = values.get(name)
            if given is not None and fits(entry, given):
                start = given
                self._given.add(name)
            elif entry.get("type") == "seed":
                start = None  # a fresh seed each job
            else:
                start = entry.get("default")
                start = _neutral(entry) if start is None else start
            self._defaults[name] = start
            widget, read = make(entry, start)
            widget.setObjectName(f"layerdecomp-option-{name}")
            widget.setToolTip(str(entry.get("help", "")))
            label = QtWidgets.QLabel(str(entry.get("label") or name))
            label.setToolTip(widget.toolTip())
            layout.addRow(label, widget)
            self._readers[name], self._widgets[name] = read, widget

    def names(self) -> list:
        """The options this form shows, in the schema's order."""
        return list(self._widgets)

    def widget(self, name: str) -> QtWidgets.QWidget:
        return self._widgets[name]

    def values(self) -> dict:
        """{name: value} the artist set: each option given when the form was made or moved since (a seed
        left at "different each time" is absent); the others are left to the server's defaults."""
        read = {name: reader() for name, reader in self._readers.items()}
        return {name: value for name, value in read.items()
                if value is not None and (name in self._given or value != self._defaults[name])}


def _neutral(entry: dict) -> Any:
    """A start for an option whose default is left to the backend (null): its lowest value, or off."""
    kind = entry.get("type")
    if kind == "bool":
        return False
    if kind == "choice":
        choices = entry.get("choices") or [{}]
        return choices[0].get("value")
    low = entry.get("min")
    return low if low is not None else 0
