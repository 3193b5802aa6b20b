"""The Krita releases the plugin is tested in, and how to launch each.

- the system's Krita (Debian 12: 5.1.x), run as it is;
- Krita 5.2.x (Debian 13 "trixie") and 5.3.x (Debian unstable) in chroots that ``scripts/krita-chroots``
  makes and caches (Debian 12's libraries are too old for them).

A chroot run happens in a private mount namespace (``unshare``) into which this machine's /tmp, the
repository and the Python environment running the tests are bind-mounted at the same paths, so that
the test's files, the installer's profile and the ``layerdecomp serve`` command the plugin starts mean the
same inside and out. Nothing stays mounted after the run.

Every test that runs real Krita takes the ``krita_install`` fixture (parametrised in conftest.py), so it
runs once per release and its id names the version (``[krita-5.2.9]``). ``LAYERDECOMP_KRITA_VERSIONS``
(a comma-separated list such as ``system`` or ``system,trixie``) narrows the set for a quick local run; CI
leaves it unset, and a missing chroot then FAILS the tests (it never skips them).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Krita must not see a virtualenv's python3 first on PATH (see docs/krita.md).
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CHROOTS = Path(os.environ.get("LAYERDECOMP_KRITA_CHROOTS", "/var/cache/layerdecomp-krita"))
# suite -> the Krita minor version Debian ships there
SUITES = {"system": "5.1", "trixie": "5.2", "sid": "5.3", "experimental": "6.0"}
MAKE_CHROOTS = "scripts/krita-chroots (scripts/test runs it)"


@dataclass(frozen=True)
class KritaInstall:
    suite: str             # "system", "trixie" or "sid"
    version: str           # e.g. "5.2.9"
    root: Path | None      # the chroot, None for the system's Krita

    @property
    def id(self) -> str:
        return f"krita-{self.version}"

    def tool(self, name: str) -> str:
        """The path of a program of this Krita's system (krita, kritarunner, xvfb-run, python3 ...)."""
        found = shutil.which(name, path=SYSTEM_PATH) if self.root is None else _which_in(self.root, name)
        if found is None:
            pytest.fail(f"{name} is not installed for {self.id} ({self.suite}): install Krita and Xvfb "
                        f"(scripts/test does: apt-get install krita xvfb xauth python3-pyqt5; {MAKE_CHROOTS})")
        return found

    def command(self, *argv: str) -> list[str]:
        """``argv`` (its first item a name for ``tool``, or an absolute path) as a command line that runs
        with this Krita."""
        program = [argv[0] if argv[0].startswith("/") else self.tool(argv[0]), *argv[1:]]
        if self.root is None:
            return program
        binds = sorted(_host_paths())
        # mount /proc, /sys, /dev and the host paths, then chroot; all inside a throwaway mount namespace.
        script = (
            'root=$1; n=$2; shift 2; '
            'mount -t proc proc "$root/proc"; mount --rbind /sys "$root/sys"; mount --rbind /dev "$root/dev"; '
            'i=0; while [ $i -lt $n ]; do mkdir -p "$root$1"; mount --rbind "$1" "$root$1"; shift; i=$((i+1)); done; '
            'exec chroot "$root" "$@"'
        )
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-ec", script, "sh",
                str(self.root), str(len(binds)), *binds, *program]

    def share_dir(self) -> Path:
        """Krita's read-only data folder (/usr/share/krita) of this release, as seen from the host."""
        return (self.root or Path("/")) / "usr/share/krita"


def _which_in(root: Path, name: str) -> str | None:
    for folder in SYSTEM_PATH.split(":"):
        if (root / folder.lstrip("/") / name).is_file():
            return f"{folder}/{name}"
    return None


def _host_paths() -> set[str]:
    """What a chroot run must see at the same path: /tmp (test files; Xvfb's sockets and locks, shared with
    the host's other X servers), the repository, and the Python environment that runs the tests (the
    plugin starts ``sys.executable -m layerdecomp serve``)."""
    paths = {Path("/tmp"), REPO, Path(sys.prefix), Path(sys.base_prefix)}
    paths |= {Path(p) for p in sys.path if p and Path(p).is_dir()}
    resolved = sorted({p.resolve() for p in paths if p.exists()}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in resolved:  # a folder inside one already bound comes along with it
        if not any(path == k or k in path.parents for k in kept) and path != Path("/"):
            kept.append(path)
    return {str(p) for p in kept}


@lru_cache(maxsize=None)
def installs() -> tuple[KritaInstall, ...]:
    """The releases to test in; one the machine lacks is still listed (with version "missing") so that
    its tests fail with instructions instead of vanishing."""
    wanted = os.environ.get("LAYERDECOMP_KRITA_VERSIONS", ",".join(SUITES)).split(",")
    unknown = [s for s in wanted if s not in SUITES]
    if unknown:
        raise ValueError(f"LAYERDECOMP_KRITA_VERSIONS: unknown {unknown}; choose from {list(SUITES)}")
    found = []
    for suite in wanted:
        root = None if suite == "system" else CHROOTS / suite
        found.append(KritaInstall(suite, _version(root) or f"{SUITES[suite]}-missing", root))
    return tuple(found)


def _version(root: Path | None) -> str | None:
    """The installed krita package's upstream version (dpkg's database, read directly: no chroot needed)."""
    status = (root or Path("/")) / "var/lib/dpkg/status"
    if root is not None and not (root / ".layerdecomp-ready").exists():
        return None
    if not status.exists():
        return None
    package = None
    for line in status.read_text(errors="replace").splitlines():
        if line.startswith("Package: "):
            package = line.split(": ", 1)[1]
        elif package == "krita" and line.startswith("Version: "):
            version = line.split(": ", 1)[1]
            version = version.split(":", 1)[-1]
            for cut in "+~-":
                version = version.split(cut, 1)[0]
            return version
    return None


def check_available(install: KritaInstall) -> None:
    """Fails the test (never skips) when this release is not on the machine."""
    if install.version.endswith("-missing"):
        where = "the system" if install.root is None else str(install.root)
        pytest.fail(f"Krita {SUITES[install.suite]}.x is not installed in {where}: run {MAKE_CHROOTS}, or set "
                    f"LAYERDECOMP_KRITA_VERSIONS to test fewer releases locally")
    if install.root is not None and shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to run Krita in its chroot")


def describe(install: KritaInstall) -> str:
    """One line naming the release, for the test output."""
    where = "system" if install.root is None else f"chroot {install.root}"
    return f"Krita {install.version} ({install.suite}, {where})"

