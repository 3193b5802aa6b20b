"""Offline evaluation of decompositions: composite test cases from real photos (``cases``) and the
metrics of ``docs/evaluation.md`` as plain numpy functions (``metrics``)."""

from .cases import Case, make_case, make_cases
from .metrics import evaluate

__all__ = ["Case", "make_case", "make_cases", "evaluate"]
