"""The Chroma store: embedded on disk by default, a Chroma server when a URL is set.

The collection records which embedding model and dimension built it and which version
of this program wrote it. Opening it with another model, or one written by another
layout version, stops with a message that says what to run, instead of returning
nonsense neighbours. Chroma never embeds anything itself: its default embedding
function downloads a model, so every call passes vectors.

Beside the chunks, a second collection holds each chunk's sentence vectors, which the
retrieval ranks candidates by: encoded at index time, no question waits for them. Its
rows name their chunk; the indexer keeps them in step with the chunks, and a reader that
finds a chunk's rows missing or incomplete encodes its sentences itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import struct
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from rag.chunking import Chunk
from rag.config import Settings

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
PAGE_SIZE = 1000


def sentence_collection_name(collection: str) -> str:
    return f"{collection}-sentences"


class StoreError(RuntimeError):
    """The store cannot be used as it is; the message says what to do."""


class StoreEmptyError(StoreError):
    """There is no index yet."""


class StoreUnwritableError(StoreError):
    """The store's folder or disk refuses writes: nothing is damaged, and rebuilding would not help."""


LOW_DISK_BYTES = 64 * 2**20


def unwritable_problem(where: str, detail: str, folder: Path | None = None) -> StoreUnwritableError | None:
    """The user's error for a write the disk or the folder refused, if it was that.

    Chroma does not always say why a write failed ("Error in compaction"), so a nearly full
    disk under ``folder`` counts as the reason too.
    """
    lowered = detail.lower()
    free = _free_bytes(folder) if folder is not None else None
    full = any(sign in lowered for sign in ("disk is full", "no space left", "quota exceeded"))
    if full or (free is not None and free < LOW_DISK_BYTES):
        left = f"; {free / 2**20:.1f} MB free" if free is not None else ""
        return StoreUnwritableError(
            f"the disk holding the store at {where} is full ({detail[:200]}{left}). Free some space and"
            " run the command again; what the store held before is still there."
        )
    if any(sign in lowered for sign in ("readonly", "read-only", "permission denied")):
        return StoreUnwritableError(
            f"the store at {where} cannot be written ({detail[:200]}). Chroma writes to its folder even"
            " to read it: make the folder writable, or copy it to a writable folder and point"
            " RAG_STORE_DIR there. The store was left as it was."
        )
    return None


def _free_bytes(folder: Path) -> int | None:
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    return shutil.disk_usage(existing).free if existing is not None else None


@contextlib.contextmanager
def _writing(where: str, folder: Path | None) -> Iterator[None]:
    """Turn a failed write into a message; the indexer's next run finishes what this one began."""
    try:
        yield
    except Exception as exc:  # Chroma reports storage failures as several error types
        raise unwritable_problem(where, str(exc), folder) or StoreError(
            f"writing to the store at {where} failed ({str(exc)[:300]}). What was written before is kept;"
            " run `rag index` again to finish."
        ) from exc


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    text: str
    metadata: dict[str, Any]


@dataclass
class DocState:
    """What the store holds for one document."""

    chunk_ids: set[str] = field(default_factory=set)
    content_hashes: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class StoreStats:
    location: str
    embedding_model: str
    embedding_dimension: int
    documents: dict[str, int]
    chunks: dict[str, int]
    sentence_vectors: int
    chunks_without_sentences: int


_healthy: set[str] = set()
_PROBE = """
import sys
import chromadb
from chromadb.config import Settings
client = chromadb.PersistentClient(path=sys.argv[1], settings=Settings(anonymized_telemetry=False))
names = {getattr(c, "name", c) for c in client.list_collections()}
for name in sys.argv[2:]:
    if name in names:
        collection = client.get_collection(name, embedding_function=None)
        count = collection.count()
        if count:
            first = collection.get(limit=1, include=["embeddings"])
            collection.query(query_embeddings=first["embeddings"], n_results=min(5, count))
"""


def check_health(path: Path, collection: str) -> None:
    """Open and query the store in a child process before this one touches it.

    A cut HNSW segment file can crash Chroma outright, a crash Python cannot catch; in a
    child it becomes a message. Done once per process and store.
    """
    key = f"{path}|{collection}"
    database = path / "chroma.sqlite3"
    if key in _healthy or not database.exists():
        return
    if not (os.access(path, os.W_OK) and os.access(database, os.W_OK)):
        raise unwritable_problem(str(path), "read-only: this user may not write to it")
    for segment in path.iterdir():
        if segment.is_dir() and _is_uuid(segment.name) and (problem := vector_segment_problem(segment)):
            raise _damaged(path, problem)
    try:
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path), collection, sentence_collection_name(collection)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired as exc:
        raise StoreError(
            f"the store at {path} did not open within 5 minutes; it may be damaged: run `rag index --rebuild`"
        ) from exc
    if probe.returncode != 0:
        detail = (probe.stderr.strip().splitlines() or [f"the reader crashed (code {probe.returncode})"])[-1]
        raise unwritable_problem(str(path), detail, path) or _damaged(path, detail[:300])
    _healthy.add(key)


def _damaged(path: Path, detail: str) -> StoreError:
    return StoreError(
        f"the store at {path} is damaged ({detail}). Run `rag index --rebuild` to rebuild it"
        " from the content folder; nothing else is lost."
    )


_HNSW_HEADER = struct.Struct("<i6QiI3QdQ")


def vector_segment_problem(segment: Path) -> str | None:
    """What is wrong with the files of one HNSW segment, if anything.

    A cut vector file makes Chroma return wrong neighbours without an error, or crash, so
    its size is checked against the element count and record size in its header. Files
    Chroma has not written yet, and headers of a layout this code does not know, pass.
    """
    header_file = segment / "header.bin"
    if not header_file.exists():
        return None
    header = header_file.read_bytes()
    if len(header) < _HNSW_HEADER.size:
        return f"{header_file} is cut short ({len(header)} bytes)"
    version, _offset, _max_elements, count, record_size, *_ = _HNSW_HEADER.unpack_from(header)
    if version != 1:
        return None
    expected = {"data_level0.bin": count * record_size, "length.bin": count * 4}
    for name, least in expected.items():
        file = segment / name
        size = file.stat().st_size if file.exists() else -1
        if size < least:
            return f"{file} holds {max(size, 0)} bytes where its header promises at least {least}"
    return None


def _client(settings: Settings, create: bool):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise StoreError(f"RAG_CHROMA_URL must look like http://host:port, not {settings.chroma_url!r}")
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # connection errors come in several types
            raise StoreError(
                f"cannot reach the Chroma server at {settings.chroma_url}: {exc}."
                " Start it with `chroma run --path DIR --port PORT`, or unset RAG_CHROMA_URL."
            ) from exc
    path = settings.store_dir
    if not create and not (path / "chroma.sqlite3").exists():
        raise StoreEmptyError(f"there is no index at {path} yet: run `rag index` first")
    check_health(path, settings.collection)
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:
        raise unwritable_problem(str(path), str(exc), path) or StoreError(
            f"cannot open the store at {path}: {exc}. If it is damaged, run `rag index --rebuild`."
        ) from exc


class Store:
    """One collection of chunks with their vectors and metadata, and one of their sentences' vectors."""

    def __init__(self, settings: Settings, client, collection, sentences=None) -> None:
        self.settings = settings
        self._client = client
        self.collection = collection
        self.sentences = sentences
        self._folder = None if settings.chroma_url else settings.store_dir

    @property
    def location(self) -> str:
        return self.settings.describe_store()

    @property
    def embedding_model(self) -> str:
        return str((self.collection.metadata or {}).get("embedding_model", ""))

    def count(self) -> int:
        return self.collection.count()

    def revision(self) -> str:
        """Changes whenever the indexer writes, so readers know when to rebuild what they derive."""
        fresh = self._client.get_collection(self.settings.collection, embedding_function=None)
        return str((fresh.metadata or {}).get("revision", ""))

    def touch(self) -> None:
        metadata = {**(self.collection.metadata or {}), "revision": uuid.uuid4().hex}
        with _writing(self.location, self._folder):
            self.collection.modify(metadata=metadata)

    def embeddings(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not chunk_ids:
            return {}
        got = self.collection.get(ids=list(chunk_ids), include=["embeddings"])
        return {cid: np.asarray(vec, dtype=np.float32) for cid, vec in zip(got["ids"], got["embeddings"], strict=True)}

    def iter_chunks(self, include_text: bool = True) -> Iterator[StoredChunk]:
        include = ["metadatas", "documents"] if include_text else ["metadatas"]
        offset = 0
        while True:
            page = self.collection.get(include=include, limit=PAGE_SIZE, offset=offset)
            ids = page["ids"]
            if not ids:
                return
            texts = page.get("documents") or [""] * len(ids)
            for chunk_id, text, meta in zip(ids, texts, page["metadatas"], strict=True):
                yield StoredChunk(chunk_id, text or "", dict(meta or {}))
            offset += len(ids)

    def doc_states(self) -> dict[str, DocState]:
        states: dict[str, DocState] = {}
        for stored in self.iter_chunks(include_text=False):
            state = states.setdefault(str(stored.metadata.get("doc_id", "")), DocState())
            state.chunk_ids.add(stored.chunk_id)
            state.content_hashes.add(str(stored.metadata.get("content_hash", "")))
        return states

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray, content_hash: str) -> None:
        if not chunks:
            return
        with _writing(self.location, self._folder):
            self.collection.upsert(
                ids=[c.chunk_id for c in chunks],
                embeddings=embeddings,
                documents=[c.text for c in chunks],
                metadatas=[chunk_metadata(c, content_hash) for c in chunks],
            )

    def update_metadata(self, chunks: Sequence[Chunk], content_hash: str) -> None:
        if chunks:
            with _writing(self.location, self._folder):
                self.collection.update(
                    ids=[c.chunk_id for c in chunks],
                    metadatas=[chunk_metadata(c, content_hash) for c in chunks],
                )

    def delete(self, chunk_ids: Iterable[str]) -> None:
        """Chunks with their sentence vectors, those first: a run that stops part-way (killed,
        or a full disk) never leaves a sentence vector whose chunk is gone."""
        ids = sorted(chunk_ids)
        if self.sentences is not None:
            self.delete_sentences(ids)
        for begin in range(0, len(ids), PAGE_SIZE):
            with _writing(self.location, self._folder):
                self.collection.delete(ids=ids[begin : begin + PAGE_SIZE])

    def sentence_counts(self) -> Counter[str]:
        """How many sentence vectors the store holds for each chunk."""
        counts: Counter[str] = Counter()
        offset = 0
        while self.sentences is not None:
            page = self.sentences.get(include=["metadatas"], limit=PAGE_SIZE, offset=offset)
            if not page["ids"]:
                break
            counts.update(str((meta or {}).get("chunk_id", "")) for meta in page["metadatas"])
            offset += len(page["ids"])
        return counts

    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored sentence vectors of these chunks, in sentence order, for those that have any."""
        if self.sentences is None or not chunk_ids:
            return {}
        got = self.sentences.get(where={"chunk_id": {"$in": list(chunk_ids)}}, include=["embeddings", "metadatas"])
        rows: dict[str, list[tuple[int, Any]]] = {}
        for meta, vector in zip(got["metadatas"], got["embeddings"], strict=True):
            rows.setdefault(str(meta["chunk_id"]), []).append((int(meta["sentence"]), vector))
        return {
            cid: np.asarray([vector for _, vector in sorted(found, key=lambda row: row[0])], dtype=np.float32)
            for cid, found in rows.items()
        }

    def replace_sentences(self, vectors: dict[str, np.ndarray]) -> None:
        """Each chunk's sentence vectors in place of what the store held for it."""
        if not vectors:
            return
        self.delete_sentences(vectors)
        ids, embeddings, metadatas = [], [], []
        for chunk_id, rows in vectors.items():
            for i, vector in enumerate(rows):
                ids.append(f"{chunk_id}:{i}")
                embeddings.append(vector)
                metadatas.append({"chunk_id": chunk_id, "sentence": i})
        with _writing(self.location, self._folder):
            self.sentences.upsert(ids=ids, embeddings=np.asarray(embeddings), metadatas=metadatas)

    def delete_sentences(self, chunk_ids: Iterable[str]) -> None:
        ids = sorted(chunk_ids)
        for begin in range(0, len(ids), PAGE_SIZE):
            with _writing(self.location, self._folder):
                self.sentences.delete(where={"chunk_id": {"$in": ids[begin : begin + PAGE_SIZE]}})

    def query(self, embedding: np.ndarray, k: int, where: dict | None = None) -> list[tuple[StoredChunk, float]]:
        """Nearest chunks with their cosine similarity."""
        available = self.count()
        if available == 0:
            return []
        result = self.collection.query(
            query_embeddings=[embedding],
            n_results=min(k, available),
            where=where,
            include=["metadatas", "documents", "distances"],
        )
        return [
            (StoredChunk(cid, text or "", dict(meta or {})), 1.0 - float(dist))
            for cid, text, meta, dist in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

    def stats(self) -> StoreStats:
        docs: dict[str, set[str]] = {}
        chunks: Counter[str] = Counter()
        sentences = self.sentence_counts()
        without_sentences = 0
        for stored in self.iter_chunks(include_text=False):
            lang = str(stored.metadata.get("lang", "?"))
            docs.setdefault(lang, set()).add(str(stored.metadata.get("doc_id")))
            chunks[lang] += 1
            without_sentences += stored.chunk_id not in sentences
        meta = self.collection.metadata or {}
        return StoreStats(
            location=self.location,
            embedding_model=str(meta.get("embedding_model", "")),
            embedding_dimension=int(meta.get("embedding_dimension", 0)),
            documents={lang: len(ids) for lang, ids in sorted(docs.items())},
            chunks=dict(sorted(chunks.items())),
            sentence_vectors=sum(sentences.values()),
            chunks_without_sentences=without_sentences,
        )


def chunk_metadata(chunk: Chunk, content_hash: str) -> dict[str, Any]:
    return {
        "doc_id": chunk.doc_id,
        "slug": chunk.slug,
        "lang": chunk.lang,
        "title": chunk.title,
        "url": chunk.url,
        "section": chunk.section,
        "position": chunk.position,
        "start": chunk.start,
        "end": chunk.end,
        "content_hash": content_hash,
    }


def _collection_metadata(model_id: str, dimension: int) -> dict[str, Any]:
    return {"rag_schema": SCHEMA_VERSION, "embedding_model": model_id, "embedding_dimension": dimension}


def open_store(
    settings: Settings,
    model_id: str | None = None,
    dimension: int | None = None,
    create: bool = False,
) -> Store:
    """Open the collection; with ``create``, make it for ``model_id`` if it does not exist.

    Giving ``model_id`` checks that the store was built by that model.
    """
    client = _client(settings, create)
    try:
        names = {getattr(c, "name", c) for c in client.list_collections()}
    except Exception as exc:
        raise StoreError(
            f"cannot read the store at {settings.describe_store()}: {exc}. If it is damaged, run `rag index --rebuild`."
        ) from exc
    if settings.collection not in names:
        if not create:
            raise StoreEmptyError(f"the store at {settings.describe_store()} has no index yet: run `rag index`")
        if model_id is None or dimension is None:
            raise ValueError("creating a collection needs the embedding model id and dimension")
        collection = client.create_collection(
            settings.collection,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=_collection_metadata(model_id, dimension),
        )
    else:
        collection = client.get_collection(settings.collection, embedding_function=None)
        check_collection(collection.metadata or {}, settings, model_id, dimension)
    sentences_name = sentence_collection_name(settings.collection)
    if create:
        sentences = client.get_or_create_collection(
            sentences_name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
    else:
        sentences = client.get_collection(sentences_name, embedding_function=None) if sentences_name in names else None
    return Store(settings, client, collection, sentences)


def check_collection(meta: dict[str, Any], settings: Settings, model_id: str | None, dimension: int | None) -> None:
    where = settings.describe_store()
    if meta.get("rag_schema") != SCHEMA_VERSION:
        raise StoreError(
            f"the store at {where} was written by another version of this program"
            f" (layout {meta.get('rag_schema', 'unknown')}, expected {SCHEMA_VERSION})."
            " Run `rag index --rebuild` to rebuild it."
        )
    stored_model = meta.get("embedding_model")
    if model_id is not None and (stored_model != model_id or meta.get("embedding_dimension") != dimension):
        raise StoreError(
            f"the store at {where} was built with the embedding model {stored_model}"
            f" ({meta.get('embedding_dimension')} dimensions), but the settings ask for {model_id}"
            f" ({dimension} dimensions). Run `rag index --rebuild` to re-embed everything with the new"
            " model, or set RAG_EMBEDDING_MODEL back."
        )


def reset_store(settings: Settings, model_id: str, dimension: int) -> Store:
    """An empty collection, whatever state the old one was in: the first step of ``rag index --rebuild``.

    A damaged embedded store is removed rather than opened, since opening it may crash the
    reader; the articles in the content folder are the source of all of it.
    """
    if not settings.chroma_url:
        try:
            check_health(settings.store_dir, settings.collection)
        except StoreUnwritableError:
            raise
        except StoreError as exc:
            log.warning("removing the damaged store before rebuilding: %s", exc)
            _remove_chroma_files(settings.store_dir)
    client = _client(settings, create=True)
    for name in (settings.collection, sentence_collection_name(settings.collection)):
        try:
            client.delete_collection(name)
        except Exception as exc:  # absent or unreadable: either way there is nothing to keep
            log.info("no collection %s to drop before rebuilding: %s", name, exc)
    return open_store(settings, model_id, dimension, create=True)


def _remove_chroma_files(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.name.startswith("chroma.sqlite3"):
            entry.unlink()
        elif entry.is_dir() and _is_uuid(entry.name):
            shutil.rmtree(entry)


def _is_uuid(name: str) -> bool:
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True
