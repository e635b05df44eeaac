"""Cutting documents into passages.

The splitter cuts at Markdown headings first, then paragraphs, lines, words, so a
passage rarely straddles two sections. Each chunk keeps its exact character span in
the document, and its id is a hash of what gets embedded, so the same text in the same
document gets the same id on every run: that is what lets the indexer skip unchanged
passages and makes re-running after a crash converge to the same store.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass, replace

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from rag.documents import Document

_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


@dataclass(frozen=True)
class Chunk:
    """A passage of one document, with where it came from."""

    chunk_id: str
    doc_id: str
    slug: str
    lang: str
    title: str
    url: str
    section: str
    position: int
    start: int
    end: int
    text: str

    @property
    def embed_text(self) -> str:
        return compose_embed_text(self.title, self.section, self.text)


def compose_embed_text(title: str, section: str, text: str) -> str:
    """What the encoders see: the title (and section) give a passage its topic."""
    in_text = not section or text.lstrip("# ").startswith(section)
    return f"{title if in_text else f'{title} — {section}'}\n\n{text}"


def make_splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter.from_language(
        Language.MARKDOWN, chunk_size=chunk_size, chunk_overlap=chunk_overlap
    )


def chunk_document(
    document: Document,
    chunk_size: int,
    chunk_overlap: int,
    splitter: RecursiveCharacterTextSplitter | None = None,
) -> list[Chunk]:
    """Split ``document`` into chunks of at most ``chunk_size`` characters."""
    splitter = splitter or make_splitter(chunk_size, chunk_overlap)
    text = document.text
    headings = [(m.start(), m.group(1).strip()) for m in _HEADING.finditer(text)]
    heading_starts = [start for start, _ in headings]
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    prev_start, prev_end = -1, 0
    for position, piece in enumerate(splitter.split_text(text)):
        start = text.find(piece, max(prev_start + 1, prev_end - chunk_overlap))
        if start < 0:
            raise RuntimeError(f"chunk {position} of {document.doc_id} is not a span of its text")
        end = start + len(piece)
        index = bisect.bisect_right(heading_starts, start) - 1
        section = headings[index][1] if index >= 0 else ""
        draft = Chunk(
            "",
            document.doc_id,
            document.slug,
            document.lang,
            document.title,
            document.url,
            section,
            position,
            start,
            end,
            piece,
        )
        digest = hashlib.sha256(f"{document.doc_id}\x1f{draft.embed_text}".encode()).hexdigest()[:20]
        seen[digest] = seen.get(digest, 0) + 1
        suffix = f"-{seen[digest]}" if seen[digest] > 1 else ""
        chunks.append(replace(draft, chunk_id=f"{document.doc_id}#{digest}{suffix}"))
        prev_start, prev_end = start, end
    return chunks
