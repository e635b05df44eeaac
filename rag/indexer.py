"""Keeping the store in step with the content folder: the re-embedding command's engine.

Each run compares every document with what the store holds for it (its chunk ids and
the content hash recorded on them) and only embeds chunks the store lacks. Writes for
one document go in a fixed order: add the new chunks, re-stamp the kept ones, delete
the stale ones (their sentence vectors first). Then each chunk whose sentence vectors are
missing or incomplete gets them, and sentence vectors left without a chunk by an earlier
run are deleted. Chunk ids are
deterministic, so a run killed at any point leaves a store that the next run recognises
as out of date and brings to exactly the state a clean run gives. A file lock keeps a
second writer out.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import filelock
import numpy as np
from platformdirs import user_cache_dir

from rag.chunking import Chunk, chunk_document, make_splitter
from rag.config import Settings
from rag.documents import Document, DocumentError, load_documents
from rag.embeddings import Embedder, load_embedder
from rag.store import DocState, Store, StoreEmptyError, StoreError, open_store, reset_store, unwritable_problem

# Sentence vectors are written for this many chunks at a time, so a killed run keeps most of its work.
SENTENCE_BATCH_CHUNKS = 16


class ContentDirError(RuntimeError):
    """The content folder is missing."""


class IndexLockedError(RuntimeError):
    """Another process is writing to the same store."""


@dataclass
class IndexReport:
    """What a run changed, per document, and the store's size afterwards."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[DocumentError] = field(default_factory=list)
    chunks_embedded: int = 0
    sentences_embedded: int = 0
    documents: int = 0
    chunks: int = 0
    dry_run: bool = False

    def to_json(self) -> dict:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "deleted": len(self.deleted),
            "unchanged": len(self.unchanged),
            "chunks_embedded": self.chunks_embedded,
            "sentences_embedded": self.sentences_embedded,
            "documents": self.documents,
            "chunks": self.chunks,
            "dry_run": self.dry_run,
            "changes": {"added": self.added, "updated": self.updated, "deleted": self.deleted},
            "failed": [{"doc_id": e.doc_id, "path": str(e.path), "reason": e.reason} for e in self.failed],
        }


@dataclass(frozen=True)
class _Plan:
    document: Document
    new: list[Chunk]
    kept: list[Chunk]
    stale: set[str]


def lock_path(settings: Settings) -> Path:
    if settings.chroma_url:
        key = hashlib.sha256(f"{settings.chroma_url}|{settings.collection}".encode()).hexdigest()[:16]
        folder = Path(user_cache_dir("soga-rag")) / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{key}.lock"
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    return settings.store_dir / ".rag-index.lock"


def sync(
    settings: Settings,
    rebuild: bool = False,
    dry_run: bool = False,
    embedder: Embedder | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_embedded: Callable[[int], None] | None = None,
) -> IndexReport:
    """Bring the store in line with the content folder and say what changed.

    ``on_plan`` receives the number of texts (chunks and sentences) about to be
    embedded, ``on_embedded`` each batch's size, for progress bars.
    """
    if not settings.content_dir.is_dir():
        raise ContentDirError(
            f"the content folder {settings.content_dir} does not exist;"
            " create it, or point RAG_CONTENT_DIR (or --content-dir) at your articles"
        )
    embedder = embedder or load_embedder(settings.embedding_model, settings.threads, settings.embedding_batch_size)
    if dry_run:
        return _run(settings, embedder, rebuild, dry_run, on_plan, on_embedded)
    lock = filelock.FileLock(str(lock_path(settings)), timeout=settings.lock_timeout)
    try:
        with lock:
            return _run(settings, embedder, rebuild, dry_run, on_plan, on_embedded)
    except filelock.Timeout as exc:
        raise IndexLockedError(
            f"another `rag index` is writing to {settings.describe_store()} (lock: {lock.lock_file});"
            f" waited {settings.lock_timeout:g} s. Let it finish, then run this again."
        ) from exc
    except OSError as exc:
        if exc.filename != lock.lock_file:
            raise
        raise unwritable_problem(settings.describe_store(), str(exc), Path(lock.lock_file).parent) or StoreError(
            f"cannot create the lock file {lock.lock_file}: {exc}"
        ) from exc


def _run(settings, embedder, rebuild, dry_run, on_plan, on_embedded) -> IndexReport:
    store = _open(settings, embedder, rebuild, dry_run)
    states = {} if store is None or (rebuild and dry_run) else store.doc_states()
    documents, errors = load_documents(settings.content_dir)
    documents, errors = _drop_duplicate_ids(documents, errors)
    report = IndexReport(failed=errors, dry_run=dry_run)

    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    plans: list[_Plan] = []
    projected: list[Chunk] = []
    for document in documents:
        chunks = chunk_document(document, settings.chunk_size, settings.chunk_overlap, splitter)
        projected.extend(chunks)
        state = states.get(document.doc_id, DocState())
        expected = {c.chunk_id for c in chunks}
        if state.chunk_ids == expected and state.content_hashes == {document.content_hash}:
            report.unchanged.append(document.doc_id)
            continue
        (report.updated if state.chunk_ids else report.added).append(document.doc_id)
        plans.append(
            _Plan(
                document,
                new=[c for c in chunks if c.chunk_id not in state.chunk_ids],
                kept=[c for c in chunks if c.chunk_id in state.chunk_ids],
                stale=state.chunk_ids - expected,
            )
        )
    kept_failed = {e.doc_id for e in errors if e.doc_id in states}
    present = {d.doc_id for d in documents} | kept_failed
    report.deleted = sorted(doc_id for doc_id in states if doc_id not in present)
    report.chunks_embedded = sum(len(p.new) for p in plans)
    sentence_counts = store.sentence_counts() if store is not None and not (rebuild and dry_run) else Counter()
    sentences = {c.chunk_id: c.sentence_embed_texts for c in projected}
    lacking = [cid for cid, texts in sentences.items() if sentence_counts[cid] != len(texts)]
    kept_ids = set(sentences).union(*(states[d].chunk_ids for d in kept_failed))
    # Deleting a chunk deletes its sentence vectors; orphans are what an earlier run left.
    removed = set().union(*(p.stale for p in plans), *(states[d].chunk_ids for d in report.deleted))
    orphans = set(sentence_counts) - kept_ids - removed
    report.sentences_embedded = sum(len(sentences[cid]) for cid in lacking)
    if on_plan is not None:
        on_plan(report.chunks_embedded + report.sentences_embedded)

    if not dry_run and (plans or report.deleted or lacking or orphans):
        store.touch()
        for plan in plans:
            vectors = embedder.embed_documents([c.embed_text for c in plan.new], progress=on_embedded)
            store.upsert(plan.new, vectors, plan.document.content_hash)
            store.update_metadata(plan.kept, plan.document.content_hash)
            store.delete(plan.stale)
        for doc_id in report.deleted:
            store.delete(states[doc_id].chunk_ids)
        for begin in range(0, len(lacking), SENTENCE_BATCH_CHUNKS):
            batch = lacking[begin : begin + SENTENCE_BATCH_CHUNKS]
            store.replace_sentences(_sentence_vectors({cid: sentences[cid] for cid in batch}, embedder, on_embedded))
        store.delete_sentences(orphans)
        store.touch()

    report.documents = len(present)
    if dry_run:
        report.chunks = len(projected) + sum(len(states[d].chunk_ids) for d in kept_failed)
    else:
        report.chunks = store.count()
    return report


def _sentence_vectors(
    texts: dict[str, list[str]], embedder: Embedder, on_embedded: Callable[[int], None] | None
) -> dict[str, np.ndarray]:
    """Each chunk's sentence vectors, from its sentences' texts, encoded in one call."""
    vectors = embedder.embed_documents([t for group in texts.values() for t in group], progress=on_embedded)
    bounds = np.cumsum([0, *(len(group) for group in texts.values())])
    return {cid: vectors[a:b] for cid, a, b in zip(texts, bounds[:-1], bounds[1:], strict=True)}


def _open(settings: Settings, embedder: Embedder, rebuild: bool, dry_run: bool) -> Store | None:
    if rebuild and not dry_run:
        return reset_store(settings, embedder.model_id, embedder.dimension)
    try:
        return open_store(settings, embedder.model_id, embedder.dimension, create=not dry_run)
    except StoreEmptyError:
        return None


def _drop_duplicate_ids(
    documents: list[Document], errors: list[DocumentError]
) -> tuple[list[Document], list[DocumentError]]:
    """Two files whose paths differ only by suffix would share an id: index the first only."""
    seen: dict[str, Document] = {}
    unique: list[Document] = []
    for document in documents:
        first = seen.get(document.doc_id)
        if first is not None:
            errors = [
                *errors,
                DocumentError(
                    document.doc_id,
                    document.path,
                    f"same document id as {first.path.name}; rename one of the two files",
                ),
            ]
            continue
        seen[document.doc_id] = document
        unique.append(document)
    return unique, errors
