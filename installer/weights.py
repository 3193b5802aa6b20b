"""The model weights the backends need: which files, from where, under which licence, checked how, and where
they go. Sets: ``diffusion`` (FLUX.1-Fill-dev for the diffusion backend) and ``compact`` (ViTMatte and MI-GAN
for the learned backend, small enough for a CPU); ``CATALOGUE`` describes each model.

Files live under ``<weights dir>/<repo name>/<path in the repo>`` (the hub's own layout, so diffusers'
``from_pretrained(<weights dir>/FLUX.1-Fill-dev, subfolder="transformer")`` reads them as they are).

Pinning: every file names a hub revision (a commit id) and a sha256. Where the catalogue does not know them
yet (``None``), the first install resolves the revision to the commit the hub serves, takes the sha256 the
hub publishes for it (``X-Linked-Etag``, the LFS object id) or computes it, and records both in
``weights.lock.json`` next to the files; every later install (and ``--offline``) is checked against that
lock. FLUX.1-Fill-dev is gated: it needs the licence accepted on the hub and an access token.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from .changes import Changes
from .download import HttpStatusError, download, file_sha256, human_size
from .errors import InstallError

DEFAULT_ENDPOINT = "https://huggingface.co"
LOCK_NAME = "weights.lock.json"


@dataclass(frozen=True)
class WeightFile:
    repo: str  # hub id, e.g. "black-forest-labs/FLUX.1-Fill-dev"
    path: str  # path inside the repo
    revision: str | None  # a commit id; None: pinned at first install (see the module docstring)
    sha256: str | None
    size: int | None
    gated: bool = False

    @property
    def local_path(self) -> str:
        return f"{self.repo.split('/')[-1]}/{self.path}"


FLUX_FILL = "black-forest-labs/FLUX.1-Fill-dev"
# What the diffusion backend loads from the base model (diffusers layout): the Fill transformer, its VAE and
# scheduler, and the two text encoders with their tokenizers, which zero-shot mode (no adapter) runs once to
# compute the empty-prompt embeddings (layerdecomp/model/prompts.py). About 34 GB in all.
# Revisions and checksums could not be looked up where this was written (no hub access): they are pinned on
# first install (see the module docstring). A file name that is wrong here fails with a 404 that says so.
DIFFUSION = tuple(
    WeightFile(FLUX_FILL, path, None, None, None, gated=True)
    for path in (
        "model_index.json",
        "scheduler/scheduler_config.json",
        "transformer/config.json",
        "transformer/diffusion_pytorch_model.safetensors.index.json",
        "transformer/diffusion_pytorch_model-00001-of-00003.safetensors",
        "transformer/diffusion_pytorch_model-00002-of-00003.safetensors",
        "transformer/diffusion_pytorch_model-00003-of-00003.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "text_encoder_2/config.json",
        "text_encoder_2/model.safetensors.index.json",
        "text_encoder_2/model-00001-of-00002.safetensors",
        "text_encoder_2/model-00002-of-00002.safetensors",
        "tokenizer/merges.txt",
        "tokenizer/special_tokens_map.json",
        "tokenizer/tokenizer_config.json",
        "tokenizer/vocab.json",
        "tokenizer_2/special_tokens_map.json",
        "tokenizer_2/spiece.model",
        "tokenizer_2/tokenizer.json",
        "tokenizer_2/tokenizer_config.json",
    )
)

# The compact set: small models the ``learned`` backend runs on a CPU (layerdecomp/learned/). Their hub
# repositories' layout is what layerdecomp.learned reads: <weights>/<repo name>/<path>.
VITMATTE = "hustvl/vitmatte-small-composition-1k"
MIGAN = "andraniksargsyan/migan"
COMPACT = (
    WeightFile(VITMATTE, "config.json", None, None, None),
    # safetensors only: if the hub ever served only the pickled pytorch_model.bin, this 404s and says so.
    WeightFile(VITMATTE, "model.safetensors", None, None, None),
    WeightFile(MIGAN, "migan_pipeline_v2.onnx", None, None, None),
)
WEIGHT_SETS = {"none": (), "diffusion": DIFFUSION, "compact": COMPACT}

# Where every checksum comes from: none could be looked up where this catalogue was written (no hub access),
# so each is the sha256 the hub publishes for the file (its LFS object id, the X-Linked-Etag header) at the
# first install, recorded with the commit in weights.lock.json; later installs and --offline check against it.
CHECKSUM_SOURCE = "sha256 from the hub's LFS pointer at first download, pinned in weights.lock.json"


@dataclass(frozen=True)
class Model:
    """One entry of the catalogue: what ``install --weights-set`` shows before it downloads anything."""

    name: str
    role: str
    licence: str
    size: str  # approximate download size
    source: str  # where the files come from (the project that publishes them)
    files: tuple[WeightFile, ...]


CATALOGUE = {
    "compact": (
        Model("ViTMatte-S (Composition-1k)", "matting: alpha from the selection's edge band (learned backend)",
              "MIT (the hustvl/ViTMatte repository, which publishes the checkpoints); trained on Adobe's "
              "Composition-1k, whose images are licensed for research: check before commercial use",
              "about 103 MB (25.8 M parameters, counted by bench/learned_cost.py)",
              f"https://huggingface.co/{VITMATTE} (from https://github.com/hustvl/ViTMatte)",
              COMPACT[:2]),
        Model("MI-GAN-512-Places2, ONNX pipeline v2", "removal: the clean plate (learned backend)",
              "MIT (Picsart-AI-Research/MI-GAN LICENSE-WEIGHTS)", "about 27 MB (6 M parameters)",
              f"https://huggingface.co/{MIGAN} (linked from https://github.com/Picsart-AI-Research/MI-GAN)",
              COMPACT[2:]),
    ),
    "diffusion": (
        Model("FLUX.1-Fill-dev", "the diffusion backend's base model (GPU)",
              "FLUX.1 [dev] Non-Commercial License (gated: accept it on the hub)", "about 34 GB",
              f"https://huggingface.co/{FLUX_FILL}", DIFFUSION),
    ),
}


def _file_list(files: tuple[WeightFile, ...]) -> str:
    if len(files) > 3:
        return f"{len(files)} files under {files[0].local_path.split('/')[0]}/"
    return ", ".join(f.local_path for f in files)


def describe(choice: str) -> list[str]:
    """Lines that list a weight set's models: role, licence, size, source and where the checksums come from."""
    lines = []
    for model in CATALOGUE.get(choice, ()):
        lines += [f"  {model.name}: {model.role}", f"    licence: {model.licence}", f"    size: {model.size}",
                  f"    source: {model.source}", f"    files: {_file_list(model.files)}",
                  f"    checksum: {CHECKSUM_SOURCE}"]
    return lines


def hub_endpoint(env: Mapping[str, str]) -> str:
    return (env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_url(endpoint: str, repo: str, revision: str, path: str) -> str:
    return f"{endpoint}/{repo}/resolve/{urllib.parse.quote(revision, safe='')}/{urllib.parse.quote(path)}"


def find_token(env: Mapping[str, str], home: Path) -> str | None:
    """An access token the way the hub's own tools find it: HF_TOKEN, then the token file `hf auth login` writes."""
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if env.get(var, "").strip():
            return env[var].strip()
    cache = Path(env.get("XDG_CACHE_HOME") or home / ".cache")
    hf_home = Path(env["HF_HOME"]) if env.get("HF_HOME") else cache / "huggingface"
    token_file = Path(env["HF_TOKEN_PATH"]) if env.get("HF_TOKEN_PATH") else hf_home / "token"
    try:
        return token_file.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def gated_help(repo: str, have_token: bool) -> str:
    page = f"https://huggingface.co/{repo}"
    licence = "the licence (FLUX.1 [dev] Non-Commercial License)" if "FLUX.1" in repo else "its terms"
    if have_token:
        first = (f"your access token was refused for {repo}: open {page} while logged in, accept {licence}, "
                 "and check the token has read access")
    else:
        first = (f"{repo} is a gated model: 1) open {page}, log in and accept {licence}; "
                 "2) create a read token at https://huggingface.co/settings/tokens")
    return (f"{first}; then run install again with HF_TOKEN=<token> set (or --hf-token <token>). "
            "Or download the files yourself and use --offline --weights DIR; or skip the model with --weights-set none "
            "(the classical backend needs no weights)")


def _probe(url: str, headers: dict[str, str], timeout: float = 30) -> dict[str, str]:
    """The hub's metadata for a file: a HEAD without following redirects (the hub puts it on the redirect)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(url, headers=headers, method="HEAD")
    try:
        response = urllib.request.build_opener(NoRedirect()).open(request, timeout=timeout)
        found = response.headers
    except urllib.error.HTTPError as exc:
        if exc.code in (301, 302, 303, 307, 308):
            found = exc.headers
        else:
            raise HttpStatusError(url, exc.code, exc.headers, f"{url}: the server answered {exc.code} {exc.reason}; "
                                  "run install again later") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise InstallError(
            f"cannot reach {urllib.parse.urlsplit(url).netloc} ({getattr(exc, 'reason', exc)}): check the internet "
            "connection and run install again (or install from files on disk with --offline --weights DIR)"
        ) from exc
    return {k.lower(): v for k, v in found.items()}


def _read_lock(folder: Path) -> dict:
    try:
        return json.loads((folder / LOCK_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InstallError(f"cannot read {folder / LOCK_NAME} ({exc}): delete it to pin the weights again") from exc


def _pinned(file: WeightFile, lock: dict) -> tuple[str | None, str | None, int | None]:
    locked = lock.get(file.local_path, {})
    return (file.revision or locked.get("revision"), file.sha256 or locked.get("sha256"),
            file.size if file.size is not None else locked.get("size"))


def fetch(
    changes: Changes,
    files: tuple[WeightFile, ...],
    weights_dir: Path,
    env: Mapping[str, str],
    home: Path,
    token: str | None = None,
    log: Callable = print,
    disk_usage: Callable = shutil.disk_usage,
    stream=None,
) -> None:
    """Download ``files`` into ``weights_dir`` (skipping verified ones), recording each for uninstall."""
    if not files:
        return
    token = token or find_token(env, home)
    endpoint = hub_endpoint(env)
    changes.make_dirs(weights_dir)
    lock = _read_lock(weights_dir)
    commits: dict[str, str] = {}  # repo -> the commit its first unpinned file resolved to: one snapshot per repo
    for file in files:
        revision, sha256, size = _pinned(file, lock)
        revision = revision or commits.get(file.repo)
        dest = weights_dir / file.local_path
        headers = {"User-Agent": "layerdecomp-installer"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            if revision is None or sha256 is None:
                meta = _probe(hub_url(endpoint, file.repo, revision or "main", file.path), headers)
                revision = revision or meta.get("x-repo-commit") or "main"
                commits.setdefault(file.repo, revision)
                etag = meta.get("x-linked-etag", "").strip('"').removeprefix("W/").strip('"')
                if sha256 is None and len(etag) == 64:
                    sha256 = etag
                linked = meta.get("x-linked-size", "")
                if size is None and linked.isdigit():
                    size = int(linked)
            changes.make_dirs(dest.parent)
            changes.record({"kind": "download", "path": str(dest)})
            actual = download(hub_url(endpoint, file.repo, revision, file.path), dest, sha256=sha256, size=size,
                              headers=headers, label=file.local_path, disk_usage=disk_usage, stream=stream)
        except HttpStatusError as exc:
            if exc.status in (401, 403) or (exc.headers and exc.headers.get("X-Error-Code") in ("GatedRepo",)):
                raise InstallError(gated_help(file.repo, token is not None)) from exc
            if exc.status == 404:
                raise InstallError(f"{file.repo} has no file {file.path} at revision {revision}: "
                                   "this installer's weight list is out of date; update the project") from exc
            raise
        entry = {"revision": revision, "sha256": actual, "size": dest.stat().st_size}
        if lock.get(file.local_path) != entry:
            lock[file.local_path] = entry
            _write_lock(changes, weights_dir, lock)


def _write_lock(changes: Changes, folder: Path, lock: dict) -> None:
    data = (json.dumps(lock, indent=2, sort_keys=True) + "\n").encode()
    changes.write_file(folder / LOCK_NAME, data, role="weights")


def check_offline(files: tuple[WeightFile, ...], source: Path, log: Callable = print) -> None:
    """Check that ``source`` (--offline --weights DIR) holds every file, matching its pinned checksum."""
    lock = _read_lock(source)
    missing = [f.local_path for f in files if not (source / f.local_path).is_file()]
    if missing:
        raise InstallError(
            f"--weights {source} lacks {len(missing)} file(s), e.g. {missing[0]}: it should hold "
            + ", ".join(f.local_path for f in files[:3]) + " ... (the hub's layout under the repo's name)"
        )
    for file in files:
        _, sha256, _ = _pinned(file, lock)
        path = source / file.local_path
        log(f"  checking {file.local_path} ({human_size(path.stat().st_size)})")
        actual = file_sha256(path).hexdigest()
        if sha256 is not None and actual != sha256:
            raise InstallError(f"checksum mismatch for {path}: expected sha256 {sha256}, got {actual}; "
                               "replace the file with an intact copy and run install again")


def model_folder(weights_dir: Path) -> Path:
    """The folder the diffusion backend is pointed at (``-O model=...``)."""
    return Path(weights_dir) / FLUX_FILL.split("/")[-1]


def weights_present(files: tuple[WeightFile, ...], folder: Path) -> tuple[int, int]:
    """(files present, files wanted) for status."""
    return sum((folder / f.local_path).is_file() for f in files), len(files)

