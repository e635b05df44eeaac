"""Prompt templates (files in prompts/, one per language) and prompt assembly.

The grounding check and the answer share one prompt up to the final instruction, so
llama.cpp reuses the evaluated passages from its cache and the check costs a few dozen
tokens, not a second read of the passages.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rag.retrieval import Passage

Message = dict[str, str]
# Sentences in an article that speak to the assistant rather than to readers: a passage is
# quoted data, so they are left out of what the model reads (the reader still sees them).
_ADDRESSED_TO_MODEL = re.compile(
    r"\b(ignore|disregard|forget|oublie|ignorez?)\b[^.!?\n]{0,60}\b(instructions?|rules|règles|consignes?)\b"
    r"|\b(system prompt|prompt système|prompt systeme|your instructions|tes instructions|vos instructions)\b"
    r"|\b(note|message|consigne|instruction)s?\b[^.!?\n]{0,30}\b(to|for|pour|à) (the |l'|l’)?"
    r"(assistant|ai|ia|model|modèle)\b"
    r"|\b(you are now|tu es maintenant|vous êtes maintenant)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|$)")
PROMPTS_DIR_DEFAULT = Path(__file__).resolve().parent.parent / "prompts"
_DELIMITERS = {"<<<": "‹‹‹", ">>>": "›››"}


class PromptError(RuntimeError):
    """A prompt file is missing or incomplete."""


@dataclass(frozen=True)
class PromptSet:
    lang: str
    system: str
    passages_header: str
    passage: str
    question: str
    answer: str
    answer_retry: str
    answer_specific: str
    grounding: str
    yes: tuple[str, ...]
    no: tuple[str, ...]
    condense: str
    follow_up: str
    abstention: str
    courtesy: tuple[str, ...]
    welcome: str


@functools.lru_cache(maxsize=8)
def load_prompts(folder: Path, lang: str) -> PromptSet:
    path = folder / f"{lang}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PromptError(f"cannot read the prompts for '{lang}' at {path}: {exc}") from exc
    fields = PromptSet.__dataclass_fields__
    missing = [name for name in fields if name != "lang" and name not in data]
    if missing:
        raise PromptError(f"{path} lacks {', '.join(missing)}")
    return PromptSet(lang=lang, **{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in fields})


def strip_instructions(text: str) -> str:
    """Leave out the sentences of a passage that give orders to the model."""
    return "".join(s for s in _SENTENCE.findall(text) if not _ADDRESSED_TO_MODEL.search(s))


def _quote(text: str) -> str:
    text = strip_instructions(text)
    for marker, safe in _DELIMITERS.items():
        text = text.replace(marker, safe)
    return text.strip()


def passages_block(prompts: PromptSet, passages: Sequence[Passage]) -> str:
    items = [prompts.passage.format(n=n, title=_quote(p.title), text=_quote(p.text)) for n, p in enumerate(passages, 1)]
    return "\n\n".join([prompts.passages_header, *items])


def answer_messages(prompts: PromptSet, passages: Sequence[Passage], question: str, instruction: str) -> list[Message]:
    """System prompt, then one user turn: quoted passages, the question, the instruction last."""
    user = "\n\n".join([passages_block(prompts, passages), prompts.question.format(question=question), instruction])
    return [{"role": "system", "content": prompts.system}, {"role": "user", "content": user}]


def preamble_messages(prompts: PromptSet) -> list[Message]:
    """What every prompt of `answer_messages` opens with, whatever the passages and question."""
    return [{"role": "system", "content": prompts.system}, {"role": "user", "content": prompts.passages_header}]


def condense_messages(prompts: PromptSet, history: Sequence[Message], question: str) -> list[Message]:
    lines = [f"{turn['role']}: {turn['content']}" for turn in history]
    user = prompts.condense.format(history="\n".join(lines), question=question)
    return [{"role": "system", "content": prompts.system}, {"role": "user", "content": user}]


def fit_passages(
    prompts: PromptSet,
    passages: Sequence[Passage],
    question: str,
    instruction: str,
    count_tokens: Callable[[str], int],
    budget: int,
) -> list[Passage]:
    """Drop the lowest-ranked passages, then shorten the last one, until the prompt fits ``budget`` tokens.

    The question is never cut: if it alone does not fit, that is the caller's error to report.
    """

    def size(selected: Sequence[Passage]) -> int:
        return sum(count_tokens(m["content"]) for m in answer_messages(prompts, selected, question, instruction)) + 16

    selected = list(passages)
    while len(selected) > 1 and size(selected) > budget:
        selected.pop()
    if selected and size(selected) > budget:
        first = selected[0]
        overflow = size(selected) - budget
        keep = max(0, len(first.text) - int(overflow * 4.5) - 20)
        selected = [replace(first, text=first.text[:keep])] if keep > 0 else []
    return selected
