"""Reading articles from the content folder.

A file that cannot be used never stops the others: it becomes a ``DocumentError`` that
names the file and the reason, so the indexer can report it and go on.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rag.language import detect_language

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt")
LANG_FOLDERS = ("fr", "en")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_FIRST_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Document:
    """One article in one language, as read from one file."""

    doc_id: str
    path: Path
    slug: str
    lang: str
    title: str
    text: str
    content_hash: str
    url: str = ""
    author: str = ""
    date: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class DocumentError:
    """A file that was skipped, and why, in words a user can act on."""

    doc_id: str
    path: Path
    reason: str


def doc_id_for(path: Path, root: Path) -> str:
    """The document id is the file's path under the content folder, without its suffix."""
    return path.relative_to(root).with_suffix("").as_posix()


def iter_content_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUPPORTED_SUFFIXES
        and p.name.lower() != "readme.md"
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def load_documents(root: Path) -> tuple[list[Document], list[DocumentError]]:
    """Read every article under ``root``; unreadable files come back as errors."""
    documents: list[Document] = []
    errors: list[DocumentError] = []
    for path in iter_content_files(root):
        try:
            documents.append(read_document(path, root))
        except DocumentReadError as exc:
            errors.append(DocumentError(doc_id_for(path, root), path, str(exc)))
    return documents, errors


class DocumentReadError(ValueError):
    """The file exists but cannot be used as an article."""


def read_document(path: Path, root: Path) -> Document:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DocumentReadError(f"cannot read the file: {exc.strerror or exc}") from exc
    if b"\x00" in raw[:8192]:
        raise DocumentReadError("binary file (it contains NUL bytes); only UTF-8 text files can be indexed")
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentReadError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start});"
            " re-save the file as UTF-8 (it may be Latin-1 or Windows-1252)"
        ) from exc
    meta, body = _split_front_matter(content)
    body = body.replace("\r\n", "\n").strip("\n")
    if not body.strip():
        raise DocumentReadError("the file has no text to index (it is empty or has only front matter)")
    doc_id = doc_id_for(path, root)
    lang = str(meta.get("lang") or _lang_from_folder(path, root) or detect_language(body)).lower()
    heading = _FIRST_HEADING.search(body)
    title = str(meta.get("title") or (heading.group(1) if heading else path.stem.replace("-", " ")))
    known = {"title", "lang", "slug", "url", "author", "date"}
    return Document(
        doc_id=doc_id,
        path=path,
        slug=str(meta.get("slug") or path.stem),
        lang=lang,
        title=title.strip(),
        text=body,
        content_hash=hashlib.sha256(raw).hexdigest(),
        url=str(meta.get("url") or ""),
        author=str(meta.get("author") or ""),
        date=str(meta.get("date") or ""),
        extra={k: v for k, v in meta.items() if k not in known},
    )


def _split_front_matter(content: str) -> tuple[dict[str, Any], str]:
    if not content.startswith("---"):
        return {}, content
    match = _FRONT_MATTER.match(content)
    if match is None:
        raise DocumentReadError("broken front matter: the opening '---' has no closing '---' line")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" near line {where.line + 2}" if where is not None else ""
        raise DocumentReadError(f"broken front matter{line}: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(meta, dict):
        raise DocumentReadError("broken front matter: expected 'key: value' lines between the '---' lines")
    return meta, content[match.end() :]


def _lang_from_folder(path: Path, root: Path) -> str | None:
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 and parts[0] in LANG_FOLDERS else None
