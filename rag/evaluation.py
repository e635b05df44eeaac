"""Scoring against a question set, following eval/README.md to the letter.

Normalisation: NFKD without combining marks, lowercase, curly quotes and guillemets
mapped to straight ones, whitespace runs collapsed. Retrieval counts an evidence string
as found when it is inside one of the top-k passages, or inside two top-k passages of
the same document that are neighbours, joined without their overlap.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

KINDS = ("fact", "cross", "multi", "unanswerable", "followup")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"'})
_SPACE = re.compile(r"\s+")


class QuestionSetError(ValueError):
    """A question set line that does not follow the format; names the line and the field."""


@dataclass(frozen=True)
class Question:
    id: str
    lang: str
    kind: str
    question: str
    history: tuple[dict[str, str], ...]
    answer: str
    must_include: tuple[tuple[str, ...], ...]
    evidence: tuple[str, ...]
    article: tuple[str, ...]


@dataclass(frozen=True)
class RetrievedText:
    """What the scorer needs of a retrieved passage."""

    doc_id: str
    position: int
    start: int
    end: int
    text: str


def normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACE.sub(" ", stripped.lower().translate(_QUOTES)).strip()


def load_question_set(path: Path) -> list[Question]:
    """Read a JSON Lines question set; a malformed line raises with its number and field."""
    questions: list[Question] = []
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionSetError(f"{path}: cannot read the question set: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionSetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        question = _parse_item(item, f"{path}:{number}")
        if question.id in seen:
            raise QuestionSetError(f"{path}:{number}: field 'id': {question.id!r} appears twice")
        seen.add(question.id)
        questions.append(question)
    if not questions:
        raise QuestionSetError(f"{path}: the question set is empty")
    return questions


def _parse_item(item: Any, where: str) -> Question:
    def fail(name: str, why: str) -> QuestionSetError:
        return QuestionSetError(f"{where}: field '{name}': {why}")

    if not isinstance(item, dict):
        raise QuestionSetError(f"{where}: expected a JSON object")
    for name in ("id", "lang", "kind", "question"):
        if not isinstance(item.get(name), str) or not item[name].strip():
            raise fail(name, "missing or not a non-empty string")
    if item["lang"] not in ("fr", "en"):
        raise fail("lang", f"must be 'fr' or 'en', not {item['lang']!r}")
    if item["kind"] not in KINDS:
        raise fail("kind", f"must be one of {', '.join(KINDS)}, not {item['kind']!r}")
    groups = item.get("must_include", [])
    if not isinstance(groups, list) or not all(
        isinstance(g, list) and g and all(isinstance(a, str) and a for a in g) for g in groups
    ):
        raise fail("must_include", "must be a list of non-empty lists of strings")
    evidence = item.get("evidence", [])
    if not isinstance(evidence, list) or not all(isinstance(e, str) and e for e in evidence):
        raise fail("evidence", "must be a list of strings")
    if item["kind"] != "unanswerable" and not groups:
        raise fail("must_include", "an answerable question needs at least one group")
    history = item.get("history", [])
    if not isinstance(history, list) or not all(
        isinstance(t, dict) and t.get("role") in ("user", "assistant") and isinstance(t.get("content"), str)
        for t in history
    ):
        raise fail("history", "must be a list of {'role': 'user'|'assistant', 'content': str}")
    if item["kind"] == "followup" and not history:
        raise fail("history", "a followup question needs the earlier turns")
    article = item.get("article", [])
    article = [article] if isinstance(article, str) else article
    if not isinstance(article, list):
        raise fail("article", "must be a slug or a list of slugs")
    return Question(
        id=item["id"],
        lang=item["lang"],
        kind=item["kind"],
        question=item["question"],
        history=tuple(history),
        answer=str(item.get("answer", "")),
        must_include=tuple(tuple(g) for g in groups),
        evidence=tuple(evidence),
        article=tuple(str(a) for a in article),
    )


def _candidate_texts(retrieved: Sequence[RetrievedText]) -> list[str]:
    """The passages, plus each pair of retrieved neighbours joined without their overlap."""
    texts = [normalize(r.text) for r in retrieved]
    ordered = sorted(retrieved, key=lambda r: (r.doc_id, r.position))
    for a, b in pairwise(ordered):
        if a.doc_id == b.doc_id and b.position == a.position + 1:
            overlap = max(0, a.end - b.start)
            texts.append(normalize(a.text + ("" if overlap else " ") + b.text[overlap:]))
    return texts


def evidence_found(evidence: Sequence[str], retrieved: Sequence[RetrievedText], k: int) -> list[bool]:
    """For each evidence string, whether the top ``k`` passages contain it."""
    candidates = _candidate_texts(retrieved[:k])
    return [any(normalize(e) in text for text in candidates) for e in evidence]


def retrieval_hit(evidence: Sequence[str], retrieved: Sequence[RetrievedText], k: int) -> bool:
    return any(evidence_found(evidence, retrieved, k))
