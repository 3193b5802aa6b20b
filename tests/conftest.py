"""Suite-wide hooks."""

from __future__ import annotations


def pytest_report_header(config):
    """Name the Krita releases the plugin's real-Krita tests run in (tests/plugin/krita_versions.py)."""
    from tests.plugin.krita_versions import describe, installs

    return ["Krita releases under test: " + "; ".join(describe(k) for k in installs())]
