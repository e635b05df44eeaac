"""Cutting documents into passages.

The splitter cuts at Markdown headings first, then paragraphs, lines, words, so a
passage rarely straddles two sections. A heading the splitter leaves on its own (its
section is longer than a chunk) opens the next chunk instead: alone, it says nothing,
yet its vector sat close to many questions and took a place among the top passages.

Each chunk keeps its exact character span in the document, and its id is a hash of what
gets embedded, so the same text in the same document gets the same id on every run:
that is what lets the indexer skip unchanged passages and makes re-running after a
crash converge to the same store.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass, replace

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from rag.documents import Document

_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_HEADING_LINE = re.compile(r"#{1,6}(?:[ \t].*)?")
_PASSAGE_SENTENCE = re.compile(r"[^\n]+?(?:[.!?](?=\s|$)|$)", re.MULTILINE)
# Sentences this short ("Short one.", a lone heading word) match many questions by chance.
SHORT_SENTENCE = 20


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

    @property
    def sentence_embed_texts(self) -> list[str]:
        return sentence_embed_texts(self.title, self.section, self.text)


def compose_embed_text(title: str, section: str, text: str) -> str:
    """What the encoders see: the title (and section) give a passage its topic."""
    in_text = not section or text.lstrip("# ").startswith(section)
    return f"{title if in_text else f'{title} — {section}'}\n\n{text}"


def sentence_embed_texts(title: str, section: str, text: str) -> list[str]:
    """What the encoders see of each sentence worth ranking a passage by, titled as passages are.

    A passage without such a sentence is its own one sentence.
    """
    sentences = [s for s in passage_sentences(text) if len(s) > SHORT_SENTENCE]
    return [compose_embed_text(title, section, sentence) for sentence in sentences or [text]]


def passage_sentences(text: str) -> list[str]:
    """A passage's sentences and lines (a heading or a list item ends at its line break)."""
    return [text[start:end].strip() for start, end in sentence_spans(text)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Where each of ``passage_sentences(text)`` lies in ``text``."""
    return [m.span() for m in _PASSAGE_SENTENCE.finditer(text) if m.group().strip()]


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
    """Split ``document`` into chunks of at most ``chunk_size`` characters, not counting
    the headings that open a chunk."""
    splitter = splitter or make_splitter(chunk_size, chunk_overlap)
    text = document.text
    headings = [(m.start(), m.group(1).strip()) for m in _HEADING.finditer(text)]
    heading_starts = [start for start, _ in headings]
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    pieces = splitter.split_text(text)
    for position, (start, end) in enumerate(_spans(text, pieces, place_pieces(text, pieces, chunk_overlap))):
        piece = text[start:end]
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
    return chunks


def _spans(text: str, pieces: list[str], starts: list[int]) -> list[tuple[int, int]]:
    """Each piece's span, a piece of whole heading lines only joined to the piece after it."""
    spans: list[tuple[int, int]] = []
    opening: int | None = None
    for index, (piece, start) in enumerate(zip(pieces, starts, strict=True)):
        if index < len(pieces) - 1 and _only_headings(piece) and text[start + len(piece) :].startswith("\n"):
            opening = start if opening is None else opening
            continue
        spans.append((start if opening is None else opening, start + len(piece)))
        opening = None
    return spans


def _only_headings(piece: str) -> bool:
    return all(_HEADING_LINE.fullmatch(line.strip()) for line in piece.splitlines() if line.strip())


def place_pieces(text: str, pieces: list[str], chunk_overlap: int) -> list[int]:
    """Where each piece the splitter returned starts in ``text``.

    The same piece can occur twice (two empty headings), and a piece can lie wholly inside
    the previous one (the overlap), so the first match is not always right. The placement
    kept is the earliest where no piece starts before the previous one or more than
    ``chunk_overlap`` characters before its end, and only whitespace is left uncovered; it
    backtracks when an earlier choice leaves text uncovered.
    """
    starts: list[int] = []
    options: list[list[int]] = []
    while len(starts) < len(pieces):
        index = len(starts)
        if len(options) == index:
            prev_start, prev_end = (starts[-1], starts[-1] + len(pieces[index - 1])) if starts else (0, 0)
            rest = text[prev_end:]
            latest = prev_end + len(rest) - len(rest.lstrip())
            found = _occurrences(text, pieces[index], max(prev_start, prev_end - chunk_overlap), latest)
            if index == len(pieces) - 1:
                found = [start for start in found if not text[start + len(pieces[index]) :].strip()]
            options.append(found[::-1])
        if options[index]:
            starts.append(options[index].pop())
            continue
        options.pop()
        if not starts:
            raise RuntimeError("the splitter returned pieces that are not spans of the text in order")
        starts.pop()
    return starts


def _occurrences(text: str, piece: str, earliest: int, latest: int) -> list[int]:
    found = []
    start = text.find(piece, earliest, latest + len(piece))
    while start >= 0:
        found.append(start)
        start = text.find(piece, start + 1, latest + len(piece))
    return found
