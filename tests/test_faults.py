"""A damaged store is detected before use, with a message, and `rag index --rebuild` recovers it."""

import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rag.chunking import chunk_document
from rag.config import Settings
from rag.documents import Document
from rag.store import open_store
from tests.conftest import copy_articles, rag_env, run_rag, store_snapshot

pytestmark = pytest.mark.slow


def assert_damaged_then_rebuilt(settings, clean_snapshot):
    for command in (["info"], ["index"]):
        result = run_rag(command, rag_env(settings))
        assert result.returncode == 3, result.stderr
        assert "is damaged" in result.stderr and "rag index --rebuild" in result.stderr
        assert "Traceback" not in result.stderr
    result = run_rag(["index", "--rebuild"], rag_env(settings))
    assert result.returncode == 0, result.stderr
    assert store_snapshot(settings) == clean_snapshot(settings.content_dir)


@pytest.fixture
def one_article(tmp_path):
    """Content for the tests whose subject is the damaged store, not what it holds: rebuilt in a few seconds."""
    return copy_articles(tmp_path / "content", ("en/digital-commons.md",))


def test_a_cut_database_is_named_and_rebuilt(one_article, settings_for, built_copy, clean_snapshot):
    settings = built_copy(settings_for(one_article))
    database = settings.store_dir / "chroma.sqlite3"
    with database.open("r+b") as handle:
        handle.truncate(database.stat().st_size // 3)
    assert_damaged_then_rebuilt(settings, clean_snapshot)


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
def test_a_cut_vector_file_is_named_and_rebuilt(
    name, share, big_store_files, one_article, settings_for, clean_snapshot
):
    settings = settings_for(one_article)
    shutil.copytree(big_store_files, settings.store_dir)
    assert run_rag(["info"], rag_env(settings)).returncode == 0
    (segment_file,) = settings.store_dir.glob(f"*/{name}")
    with segment_file.open("r+b") as handle:
        handle.truncate(int(segment_file.stat().st_size * share))
    assert_damaged_then_rebuilt(settings, clean_snapshot)


def run_in_own_mounts(script: str, tmp_path) -> None:
    """Run ``script`` in a private mount namespace, where it may mount a tmpfs or a read-only bind.

    A user namespace makes this work without root; as root, a plain mount namespace does too.
    """
    for unshare in (["unshare", "-Urm"], ["unshare", "-m"]):
        if subprocess.run([*unshare, "true"], capture_output=True).returncode == 0:
            break
    else:
        pytest.skip("this machine allows no private mount namespace (unshare), so no read-only or full disk")
    result = subprocess.run([*unshare, "sh", "-euc", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    (tmp_path / "namespace.log").write_text(result.stdout + result.stderr)


def rag_commands(env: dict[str, str], commands: dict[str, str], out) -> str:
    """Shell lines that run each `rag` command and keep its exit code and error output in ``out``."""
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith("RAG_"))
    return "\n".join(
        f"export {exports}\n{shlex.quote(sys.executable)} -m rag {args} >/dev/null 2>{out}/{name}.err"
        f" && echo 0 >{out}/{name}.rc || echo $? >{out}/{name}.rc"
        for name, args in commands.items()
    )


def outcome(out, name: str) -> tuple[int, str]:
    return int((out / f"{name}.rc").read_text()), (out / f"{name}.err").read_text()


def change_one_article(content, paragraphs: int) -> None:
    article = content / "en" / "mednum.md"
    article.write_text(
        article.read_text()
        + "".join(f"\n\nA new paragraph, number {i}, on digital inclusion." for i in range(paragraphs))
    )


def test_a_read_only_store_is_named_and_kept(small_content, settings_for, built_copy, clean_snapshot, tmp_path):
    settings = built_copy(settings_for(small_content))
    before = store_snapshot(settings)
    change_one_article(small_content, 3)
    out = tmp_path / "out"
    out.mkdir()
    store = shlex.quote(str(settings.store_dir))
    commands = {"info": "info", "index": "index", "rebuild": "index --rebuild"}
    run_in_own_mounts(
        f"mount --bind {store} {store}\nmount -o remount,ro,bind {store}\n"
        + rag_commands(rag_env(settings), commands, out),
        tmp_path,
    )
    for name in commands:
        code, error = outcome(out, name)
        assert code == 3, error
        assert "cannot be written" in error and "RAG_STORE_DIR" in error and "Traceback" not in error
    assert store_snapshot(settings) == before
    assert run_rag(["index"], rag_env(settings)).returncode == 0
    assert store_snapshot(settings) == clean_snapshot(small_content)


@pytest.mark.parametrize("free_kb", [0, 256])
def test_a_full_disk_is_named_and_loses_nothing(
    free_kb, small_content, settings_for, built_copy, clean_snapshot, tmp_path
):
    """With no space left Chroma cannot open the store; with 256 KB it fails part-way through the writes."""
    built = built_copy(settings_for(small_content, "built"))
    before = store_snapshot(built)
    # With 256 KB left, 120 new paragraphs (and their 120 sentence vectors) outgrow it part-way through the writes.
    change_one_article(small_content, 120 if free_kb else 3)
    settings = settings_for(small_content, "on-tmpfs")
    settings.store_dir.mkdir()
    failed, final, out = tmp_path / "failed", tmp_path / "final", tmp_path / "out"
    out.mkdir()
    store, q = str(settings.store_dir), shlex.quote
    run_in_own_mounts(
        f"mount -t tmpfs -o size=6m tmpfs {q(store)}\n"
        f"cp -a {q(str(built.store_dir))}/. {q(store)}/\n"
        f"dd if=/dev/zero of={q(store)}/spare bs=1k count={free_kb} 2>/dev/null\n"
        f"dd if=/dev/zero of={q(store)}/filler bs=4k 2>/dev/null || true\n"
        f"rm {q(store)}/spare\n"
        + rag_commands(rag_env(settings), {"full": "index"}, out)
        + f"\nrm {q(store)}/filler\ncp -a {q(store)} {q(str(failed))}\n"
        + rag_commands(rag_env(settings), {"freed": "index"}, out)
        + f"\ncp -a {q(store)} {q(str(final))}\n",
        tmp_path,
    )
    code, error = outcome(out, "full")
    assert code == 3, error
    assert "is full" in error and "Free some space" in error and "Traceback" not in error
    assert ("Embedding" in error) == (free_kb == 256), "the two cases fail at opening and at writing"
    kept = store_snapshot(settings_for(small_content, "failed"))
    unchanged = {cid: chunk for cid, chunk in before.items() if chunk["doc_id"] != "en/mednum"}
    assert unchanged.items() <= kept.items()
    code, error = outcome(out, "freed")
    assert code == 0, error
    assert store_snapshot(settings_for(small_content, "final")) == clean_snapshot(small_content)
