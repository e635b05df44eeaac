"""A damaged store is detected before use, with a message, and `rag index --rebuild` recovers it."""

import shutil

import numpy as np
import pytest

from rag.chunking import chunk_document
from rag.config import Settings
from rag.documents import Document
from rag.store import open_store
from tests.conftest import rag_env, run_rag, store_snapshot

pytestmark = pytest.mark.slow


def assert_damaged_then_rebuilt(settings, settings_for, content):
    for command in (["info"], ["index"]):
        result = run_rag(command, rag_env(settings))
        assert result.returncode == 3, result.stderr
        assert "is damaged" in result.stderr and "rag index --rebuild" in result.stderr
        assert "Traceback" not in result.stderr
    result = run_rag(["index", "--rebuild"], rag_env(settings))
    assert result.returncode == 0, result.stderr
    clean = settings_for(content, "clean")
    assert run_rag(["index"], rag_env(clean)).returncode == 0
    assert store_snapshot(settings) == store_snapshot(clean)


def test_a_cut_database_is_named_and_rebuilt(small_content, settings_for):
    settings = settings_for(small_content)
    assert run_rag(["index"], rag_env(settings)).returncode == 0
    database = settings.store_dir / "chroma.sqlite3"
    with database.open("r+b") as handle:
        handle.truncate(database.stat().st_size // 3)
    assert_damaged_then_rebuilt(settings, settings_for, small_content)


@pytest.fixture(scope="module")
def big_store_files(tmp_path_factory, embedder):
    """A store past Chroma's 1,000-vector mark, where the HNSW files on disk are what it reads.

    The vectors are random: the test is about the files, and embedding 1,200 passages
    would take minutes.
    """
    root = tmp_path_factory.mktemp("big")
    settings = Settings(content_dir=root / "content", store_dir=root / "store")
    store = open_store(settings, embedder.model_id, embedder.dimension, create=True)
    paragraphs = "\n\n".join(f"Paragraphe {i} sur l'économie sociale et solidaire." for i in range(1200))
    document = Document("fr/synthetic", root / "synthetic.md", "synthetic", "fr", "Synthetic", paragraphs, "h")
    chunks = chunk_document(document, 60, 0)
    assert len(chunks) > 1000
    vectors = np.random.default_rng(0).normal(size=(len(chunks), embedder.dimension)).astype(np.float32)
    for start in range(0, len(chunks), 300):
        store.upsert(chunks[start : start + 300], vectors[start : start + 300], "h")
    del store
    return settings.store_dir


@pytest.mark.parametrize(("name", "share"), [("data_level0.bin", 0.5), ("length.bin", 0.1), ("header.bin", 0.5)])
def test_a_cut_vector_file_is_named_and_rebuilt(name, share, big_store_files, small_content, settings_for):
    settings = settings_for(small_content)
    shutil.copytree(big_store_files, settings.store_dir)
    assert run_rag(["info"], rag_env(settings)).returncode == 0
    (segment_file,) = settings.store_dir.glob(f"*/{name}")
    with segment_file.open("r+b") as handle:
        handle.truncate(int(segment_file.stat().st_size * share))
    assert_damaged_then_rebuilt(settings, settings_for, small_content)
