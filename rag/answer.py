"""From a question (and the conversation so far) to a cited answer in the question's language.

The steps: rewrite a follow-up into a standalone question; retrieve; decide whether the
passages hold the answer (a yes/no grounding check read from the model's first-token
probabilities, because a small model told "say you don't know if..." in the answer
prompt refuses most answerable questions); then answer with numbered citations. The
small model's own markers mostly point at passage [1] or at all of them, so by default
each sentence is cited, as it streams, with the given passage that best supports it
(`SentenceCiter`); with `check_citations` off, the model's markers are shown once
checked to point at a passage it was given (`CitationFilter`). An answer that says
nothing but markers, or starts repeating a sentence, is stopped and retried once with a
firmer instruction; a second marker-only answer abstains, a second loop is cut before it.
A line that only repeats a passage's title is not shown (`TitleEchoFilter`).
An answer that states a figure found in no passage (nor in the conversation) has invented
it, and one that shares no meaningful word with the question (nor the user's earlier
turns, nor a passage sentence about the question) answers something else: both are
withdrawn for the abstention message, and so is one that names what no passage names (an
acronym, or a name of two words or more such as "Victor Hugo"). So is an answer that
gives no quantity to a question that asks for one ("how many", "combien", "what
budget"), one that only says a "which / who / what" question again ("the expert works
for a large mutual"), and one that only asks a question (an interviewer's, copied from
a passage). A turn that only greets or thanks, or a fresh question that names nothing,
gets a fixed message without a search.

The CLI, the web UI and the evaluation all call `Pipeline.stream` / `Pipeline.answer`.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.chunking import passage_sentences
from rag.config import Settings, load_settings
from rag.embeddings import load_embedder
from rag.figures import (
    asks_for_a_quantity,
    asks_for_a_time,
    invented_acronyms,
    invented_currencies,
    invented_figures,
    invented_names,
    states_a_quantity,
    states_a_time,
)
from rag.language import content_words, detect_language, fold, has_names
from rag.llm import LLM, load_llm
from rag.prompts import (
    PROMPTS_DIR_DEFAULT,
    PromptSet,
    answer_messages,
    condense_messages,
    fit_passages,
    load_prompts,
    preamble_messages,
    strip_instructions,
)
from rag.retrieval import Passage, RetrievalOptions, Retriever, conversation_query
from rag.store import open_store

RETRIEVED_FOR_REPORT = 10
CONDENSE_MAX_TOKENS = 80
HISTORY_CHARS = 1200
# How much the answer so far counts, beside the sentence itself, in choosing a sentence's
# citation: a sentence that elaborates ("it also trains them") is scored with what the
# answer is about. Measured with bench/citations.py; see "Why the defaults" in the README.
ANSWER_SO_FAR_WEIGHT = 0.5
_MARKER = re.compile(r"\[(\s*\d+\s*(?:[,;]\s*\d+\s*)*)\]")
_MARKER_CHARS = set("0123456789,; ")


class QuestionError(ValueError):
    """The question (or history) cannot be answered as given; the message says why."""


@dataclass(frozen=True)
class Citation:
    n: int
    chunk_id: str
    doc: str
    lang: str
    title: str
    url: str
    text: str


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    lang: str
    abstained: bool
    uncited: bool
    citations: tuple[Citation, ...]
    retrieved: tuple[Passage, ...]
    standalone_question: str
    grounding: float
    prompt_tokens: int  # of the last prompt the model read: the answer's, or the check's when it abstained
    passages_given: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "lang": self.lang,
            "abstained": self.abstained,
            "uncited": self.uncited,
            "citations": [
                {
                    "n": c.n,
                    "chunk_id": c.chunk_id,
                    "doc": c.doc,
                    "lang": c.lang,
                    "title": c.title,
                    "url": c.url,
                    "text": c.text,
                }
                for c in self.citations
            ],
            "retrieved": [retrieved_json(rank, p) for rank, p in enumerate(self.retrieved, 1)],
            "standalone_question": self.standalone_question,
            "grounding": round(self.grounding, 4),
            "prompt_tokens": self.prompt_tokens,
            "passages_given": self.passages_given,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def retrieved_json(rank: int, passage: Passage) -> dict[str, Any]:
    return {
        "rank": rank,
        "chunk_id": passage.chunk_id,
        "doc": passage.slug,
        "doc_id": passage.doc_id,
        "lang": passage.lang,
        "position": passage.position,
        "start": passage.start,
        "end": passage.end,
        "score": round(passage.score, 6),
        "text": passage.text,
    }


@dataclass(frozen=True)
class Token:
    """A piece of answer text, safe to show."""

    text: str


@dataclass(frozen=True)
class Restart:
    """Discard the text shown so far: the answer is being generated again."""

    reason: str


@dataclass(frozen=True)
class Reading:
    """The passages the model is about to read: reading them takes most of the wait before the first word."""

    passages: tuple[Passage, ...]


@dataclass(frozen=True)
class Done:
    answer: Answer


Event = Reading | Token | Restart | Done


class CitationFilter:
    """Streams text while holding back anything that may be a citation marker until it is checked.

    Markers whose numbers were all given to the model come out as ``[n]`` or ``[n, m]``; numbers
    that were not are dropped, and a marker left with none disappears.
    """

    def __init__(self, valid: range) -> None:
        self.valid = valid
        self.cited: list[int] = []
        self._pending = ""

    def feed(self, text: str) -> str:
        self._pending += text
        out = []
        while self._pending:
            start = self._pending.find("[")
            if start < 0:
                out.append(self._pending)
                self._pending = ""
                break
            out.append(self._pending[:start])
            self._pending = self._pending[start:]
            end = self._pending.find("]")
            inside = self._pending[1:] if end < 0 else self._pending[1:end]
            if not set(inside) <= _MARKER_CHARS or len(inside) > 24:
                out.append("[")
                self._pending = self._pending[1:]
                continue
            if end < 0:
                break
            out.append(self._rewrite(self._pending[: end + 1]))
            self._pending = self._pending[end + 1 :]
        return "".join(out)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return rest if not rest.startswith("[") else ""

    def _rewrite(self, marker: str) -> str:
        kept = [n for n in dict.fromkeys(_cited_numbers(marker)) if n in self.valid]
        for n in kept:
            if n not in self.cited:
                self.cited.append(n)
        return f"[{', '.join(map(str, kept))}]" if kept else ""


class SentenceCiter:
    """Streams the model's text without its own markers, ending each sentence with a checked one.

    ``support`` gives, for a finished sentence, the number of the passage that best
    supports it, or None. The marker goes before the sentence's final punctuation, which
    is held back until the next word shows the sentence has ended: "6.3" and "i.e. a"
    do not.
    """

    def __init__(self, support: Callable[[str], int | None]) -> None:
        self.support = support
        self.cited: list[int] = []
        self._markers = CitationFilter(range(0))
        self._sentence = ""
        self._held = ""

    def feed(self, text: str) -> str:
        return "".join(self._char(c) for c in self._markers.feed(text))

    def flush(self) -> str:
        rest = "".join(self._char(c) for c in self._markers.flush())
        return rest + self._end_sentence(self._held.rstrip(" "), "")

    def _char(self, char: str) -> str:
        held = self._held
        if char == "\n":
            return self._end_sentence(held.rstrip(" "), "\n")
        if char.isspace():
            if held or self._sentence:
                self._held = held.rstrip(" ") + " "
            return ""
        if char in ".!?":
            self._held = held.rstrip(" ") + char
            return ""
        if held.endswith(" ") and held.rstrip(" ")[-1:] in (".", "!", "?") and not char.islower():
            return self._end_sentence(held.rstrip(" "), " ") + self._char(char)
        if char in ",;:" and not held.strip():
            held = ""
        self._held = ""
        self._sentence += held + char
        return held + char

    def _end_sentence(self, punctuation: str, after: str) -> str:
        """The sentence's marker and final punctuation; a space after it waits for more text."""
        sentence, self._sentence = self._sentence, ""
        marker = ""
        if len(re.findall(r"\w+", sentence)) >= 3 and (n := self.support(sentence)) is not None:
            marker = f" [{n}]"
            if n not in self.cited:
                self.cited.append(n)
        self._held = " " if after == " " and (sentence or punctuation) else ""
        return marker + punctuation + ("" if after == " " else after)


class TitleEchoFilter:
    """Drops a line that only repeats a given passage's title.

    The small model sometimes writes the title of the passage it draws on as a heading of
    its own, first or between paragraphs; shown, it reads as part of the answer and gets
    cited. Each line is held back while it may still turn out to be a title, so the delay
    ends as soon as it differs from every title.
    """

    def __init__(self, titles: Sequence[str]) -> None:
        self.titles = {t for t in map(_comparable, titles) if t}
        self._line: str | None = ""  # the start of the current line while held, None once shown
        self._after_title = False

    def feed(self, text: str) -> str:
        shown = []
        while text:
            if self._after_title:
                text = text.lstrip("\n")
                self._after_title = not text
            elif self._line is None:
                line, newline, text = text.partition("\n")
                shown.append(line + newline)
                if newline:
                    self._line = ""
            else:
                head, newline, text = (self._line + text).partition("\n")
                if newline:
                    self._line = ""
                    if _comparable(head) in self.titles:
                        self._after_title = True
                    else:
                        shown.append(head + newline)
                elif any(title.startswith(_comparable(head)) for title in self.titles):
                    self._line = head
                else:
                    shown.append(head)
                    self._line = None
        return "".join(shown)

    def flush(self) -> str:
        held, self._line = self._line or "", None
        return "" if _comparable(held) in self.titles else held


def _comparable(line: str) -> str:
    """A line's words, without markers, accents, case, punctuation or markdown."""
    line = re.sub(r"\[[\d,; ]*$", "", _MARKER.sub(" ", line))
    return " ".join(re.findall(r"\w+", fold(line)))


def clean_question(question: str) -> str:
    """Drop control characters (keeping line breaks) and surrounding blanks."""
    return "".join(c for c in question if c in "\n\t" or unicodedata.category(c)[0] != "C").strip()


class Pipeline:
    """Everything needed to answer: settings, retriever, model and prompts, loaded once."""

    def __init__(self, settings: Settings, retriever: Retriever, llm: LLM) -> None:
        self.settings = settings
        self.retriever = retriever
        self.llm = llm

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        embedder = load_embedder(settings.embedding_model, settings.threads, settings.embedding_batch_size)
        store = open_store(settings, embedder.model_id, embedder.dimension)
        return cls(settings, Retriever(store, embedder, RetrievalOptions.from_settings(settings)), load_llm(settings))

    def prompts(self, lang: str) -> PromptSet:
        return load_prompts(PROMPTS_DIR_DEFAULT, lang)

    def answer(self, question: str, history: Sequence[dict[str, str]] | None = None, k: int | None = None) -> Answer:
        for event in self.stream(question, history, k):
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("the answer stream ended without an answer")

    def stream(
        self, question: str, history: Sequence[dict[str, str]] | None = None, k: int | None = None
    ) -> Iterator[Event]:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        question = self._check_question(question)
        turns = self._check_history(history or [])
        lang = detect_language(question, default=_history_language(turns))
        prompts = self.prompts(lang)

        # Orders to the model inside the question are not part of what is asked; a greeting or
        # thanks ("merci !"), or a fresh question that names nothing ("c'est quoi ?"), has
        # nothing to search for.
        asked = strip_instructions(question).strip()
        courtesy = is_courtesy(asked, self.prompts("fr").courtesy + self.prompts("en").courtesy)
        if courtesy or (not turns and not names_something(asked, lang)):
            asked = ""
        standalone, queries = self.standalone_question(prompts, turns, asked)
        if turns and asked:
            timings["condense_s"] = time.perf_counter() - started

        mark = time.perf_counter()
        retrieved = self.retriever.search(queries, max(RETRIEVED_FOR_REPORT, k or 0), lang=lang) if asked else []
        timings["retrieval_s"] = time.perf_counter() - mark
        budget = self.settings.context_size - self.settings.max_answer_tokens
        passages = fit_passages(
            prompts,
            retrieved[: k or self.settings.top_k],
            standalone,
            prompts.answer_retry,
            self.llm.count_tokens,
            budget,
        )
        if passages:
            yield Reading(tuple(passages))

        mark = time.perf_counter()
        check = answer_messages(prompts, passages, standalone, prompts.grounding)
        # A question asked afresh is checked the same whatever was asked before it; a follow-up
        # instead reuses what llama.cpp kept of the passages its previous turn read.
        preamble = None if turns else preamble_messages(prompts)
        grounding = self.llm.yes_probability(check, prompts.yes, prompts.no, preamble) if passages else 0.0
        timings["grounding_s"] = time.perf_counter() - mark

        def finish(text: str, abstained: bool, citations: tuple[Citation, ...], prompt_tokens: int) -> Done:
            timings["total_s"] = time.perf_counter() - started
            return Done(
                Answer(
                    question=question,
                    text=text,
                    lang=lang,
                    abstained=abstained,
                    uncited=not abstained and not citations,
                    citations=citations,
                    retrieved=tuple(retrieved[:RETRIEVED_FOR_REPORT]),
                    standalone_question=standalone,
                    grounding=grounding,
                    prompt_tokens=prompt_tokens,
                    passages_given=len(passages),
                    timings=timings,
                )
            )

        def abstain(prompt_tokens: int, withdrawn: str = "", message: str = prompts.abstention) -> Iterator[Event]:
            """Replace anything shown (saying why) with a fixed message: by default, "the sources do not say"."""
            if withdrawn and not held:
                yield Restart(withdrawn)
            timings.setdefault("first_token_s", time.perf_counter() - started)
            yield Token(message)
            yield finish(message, True, (), prompt_tokens)

        # The check scores yes/no questions low even when a passage answers them (dev-005 "odc
        # orange c'est payant ?"), so such a question is answered anyway, out of sight, and the
        # answer shown only if it says more than the question, in words a passage gives.
        doubted = grounding < self.settings.grounding_threshold
        held = doubted and bool(passages) and asks_yes_or_no(asked, lang)
        if not passages or (doubted and not held):
            prompt_tokens = sum(self.llm.count_tokens(m["content"]) for m in check) if passages else 0
            yield from abstain(prompt_tokens, message=prompts.welcome if courtesy else prompts.abstention)
            return

        text, cited, prompt_tokens = "", [], 0
        for attempt, instruction in enumerate((prompts.answer, prompts.answer_retry)):
            if attempt and not held:
                yield Restart(
                    "the answer cited no passage, said nothing or repeated itself;"
                    " asking again with a firmer instruction"
                )
            messages = answer_messages(prompts, passages, standalone, instruction)
            prompt_tokens = sum(self.llm.count_tokens(m["content"]) for m in messages)
            title_echo = TitleEchoFilter([p.title for p in passages])
            citation_filter = self._citer(passages)
            pieces, repeat_at = [], None
            stream = self.llm.stream_chat(
                messages, self.settings.max_answer_tokens, self.settings.temperature, self.settings.seed
            )
            with contextlib.closing(stream):
                for piece in stream:
                    shown = citation_filter.feed(title_echo.feed(piece))
                    if shown:
                        pieces.append(shown)
                        if not held:
                            timings.setdefault("first_token_s", time.perf_counter() - started)
                            yield Token(shown)
                        # A small model that repeats a sentence has lost the thread: stop it there.
                        if (repeat_at := first_repetition("".join(pieces))) is not None:
                            break
            if repeat_at is None:
                tail = citation_filter.feed(title_echo.flush()) + citation_filter.flush()
                if tail:
                    pieces.append(tail)
                    if not held:
                        yield Token(tail)
                text = "".join(pieces).strip()
            else:
                text = "".join(pieces)[:repeat_at].strip().rstrip(",;:").rstrip()
                if attempt and not held:
                    yield Restart("the model began repeating itself; its answer stops before the repetition")
                    yield Token(text)
            cited = [n for n in dict.fromkeys(_cited_numbers(text)) if 1 <= n <= len(passages)]
            if cited and _has_words(text) and repeat_at is None:
                break
        if not _has_words(text):
            # Asked twice, the model wrote nothing but markers: it has no answer to give.
            yield from abstain(
                prompt_tokens, text and "the model gave no answer from the passages; the sources do not say"
            )
            return
        if reason := why_withdrawn(text, question, standalone, turns, passages, lang):
            yield from abstain(prompt_tokens, f"{reason}; the sources do not say")
            return
        if held:
            if not adds_from_passages(text, f"{readers_words(question, turns)} {standalone}", passages, lang):
                yield from abstain(prompt_tokens)
                return
            timings.setdefault("first_token_s", time.perf_counter() - started)
            yield Token(text)
        citations = tuple(_citation(n, passages[n - 1]) for n in cited)
        yield finish(text, False, citations, prompt_tokens)

    def _citer(self, passages: Sequence[Passage]) -> SentenceCiter | CitationFilter:
        if not self.settings.check_citations:
            return CitationFilter(range(1, len(passages) + 1))

        answered: list[str] = []

        def best_supporting(sentence: str) -> int | None:
            answered.append(sentence)
            own = self.retriever.support_scores(sentence, passages)
            so_far = self.retriever.support_scores(" ".join(answered), passages)
            scores = [a + ANSWER_SO_FAR_WEIGHT * b for a, b in zip(own, so_far, strict=True)]
            return max(range(len(scores)), key=scores.__getitem__) + 1 if scores else None

        return SentenceCiter(best_supporting)

    def _check_question(self, question: str) -> str:
        cleaned = clean_question(question or "")
        if not cleaned:
            raise QuestionError("the question is empty")
        if not any(c.isalnum() for c in cleaned):
            raise QuestionError("the question has no words: ask about the articles in French or English")
        if len(cleaned) > self.settings.max_question_chars:
            raise QuestionError(
                f"the question has {len(cleaned)} characters; the limit is {self.settings.max_question_chars}"
                " (RAG_MAX_QUESTION_CHARS)"
            )
        return cleaned

    def _check_history(self, history: Sequence[dict[str, str]]) -> list[dict[str, str]]:
        turns = []
        for turn in history:
            if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
                raise QuestionError("each history turn must be {'role': 'user' or 'assistant', 'content': text}")
            content = clean_question(str(turn.get("content") or ""))
            if content:
                turns.append({"role": turn["role"], "content": content[:HISTORY_CHARS]})
        return turns[-self.settings.history_turns :]

    def standalone_question(self, prompts: PromptSet, turns: list[dict[str, str]], asked: str) -> tuple[str, list[str]]:
        """The question to answer and the queries to search for it; a follow-up is rewritten first."""
        if not turns or not asked:
            return asked, [asked]
        standalone = self._condense(prompts, turns, asked)
        return standalone, [standalone, conversation_query(turns, asked)]

    def _condense(self, prompts: PromptSet, turns: list[dict[str, str]], question: str) -> str:
        reply = self.llm.chat(condense_messages(prompts, turns, question), CONDENSE_MAX_TOKENS)
        lines = [line.strip().strip('"«»“”').strip() for line in reply.strip().splitlines() if line.strip()]
        rewritten = lines[0] if lines and len(lines[0]) > 3 else question
        # The small model often hands the follow-up back unchanged, its pronoun unresolved ("Et
        # combien de membres a-t-elle ?"): then the reader's previous question says what it is
        # about, unless the follow-up names what it asks about ("Who founded OpenAI?").
        unchanged = content_words(rewritten, prompts.lang) <= content_words(question, prompts.lang)
        if unchanged and not has_names(question.strip()):
            previous = [t["content"] for t in turns if t["role"] == "user"][-1:]
            return prompts.follow_up.format(question=question, previous=previous[0]) if previous else question
        return rewritten


def why_withdrawn(
    text: str, question: str, standalone: str, turns: Sequence[dict[str, str]], passages: Sequence[Passage], lang: str
) -> str | None:
    """Why a finished answer must not be shown, or None: it invents, or it does not answer."""
    if asks_instead(text):
        return "the answer only asks a question"
    sources = [question, standalone, *(t["content"] for t in turns), *(f"{p.title} {p.text}" for p in passages)]
    if invented := invented_figures(text, sources):
        return f"the answer gave figures that no passage contains ({', '.join(invented)})"
    if invented := invented_currencies(text, sources):
        return f"the answer gave a sum in a currency no passage names ({', '.join(invented)})"
    if invented := invented_acronyms(text, sources) + invented_names(text, sources):
        return f"the answer names {', '.join(invented)}, which no passage names"
    # What kind of answer is due is read from the reader's own words: a follow-up may be asked
    # after the previous question, which asked for something else.
    if asks_for_a_quantity(question) and not states_a_quantity(text, sources):
        return "the question asks for a quantity that the answer does not give"
    if asks_for_a_time(question) and not states_a_time(text):
        return "the question asks when, and the answer gives no time"
    asked = readers_words(question, turns)
    if not on_topic(text, f"{asked} {standalone}", passages, lang):
        return "the answer shares no word with the question"
    if restates_the_question(text, f"{question} {standalone}", f"{asked} {standalone}", lang):
        return "the answer only says the question again"
    return None


def readers_words(question: str, turns: Sequence[dict[str, str]]) -> str:
    """What the reader wrote: the question and their earlier turns."""
    return " ".join([question, *(t["content"] for t in turns if t["role"] == "user")])


def first_repetition(text: str) -> int | None:
    """Where the answer starts saying again what it said: a whole sentence, or a looping phrase."""
    found = [at for at in (first_repeated_sentence(text), looping_phrase(text)) if at is not None]
    return min(found, default=None)


def looping_phrase(text: str) -> int | None:
    """Where a run of three words or more, said three times in a row at the end, first comes back.

    The small model can loop inside one sentence, which never ends ("des forums de discussion,
    des groupes de travail, des forums de discussion, …") until the token limit.
    """
    words = list(re.finditer(r"\w+", _MARKER.sub(lambda m: " " * len(m.group()), text)))
    lowered = [w.group().lower() for w in words]
    for size in range(3, len(words) // 3 + 1):
        tail = lowered[len(words) - 3 * size :]
        if tail[:size] == tail[size : 2 * size] == tail[2 * size :]:
            start = len(words) - 3 * size
            while start and lowered[start - 1] == lowered[start - 1 + size]:
                start -= 1
            return words[start + size].start()
    return None


def first_repeated_sentence(text: str) -> int | None:
    """Where a finished sentence of four words or more says again what an earlier one said."""
    seen: set[tuple[str, ...]] = set()
    start = 0
    for end in re.finditer(r"[.!?](?=\s)|\n", text):
        words = tuple(re.findall(r"\w+", _MARKER.sub("", text[start : end.end()]).lower()))
        if len(words) >= 4:
            if words in seen:
                return start
            seen.add(words)
        start = end.end()
    return None


def on_topic(answer: str, asked: str, passages: Sequence[Passage], lang: str) -> bool:
    """Whether the answer says something about what was asked, directly or through a passage.

    An answer that shares no meaningful word with the question is usually a neighbouring
    fact ("it is a bit early to say" for opening hours). But a terse answer may only name
    what a passage's sentence about the question lists ("research, e-government" for the
    priority themes): a passage sentence that shares two words with the question and one
    with the answer links them.
    """
    answer_words = content_words(_MARKER.sub(" ", answer), lang)
    asked_words = content_words(asked, lang)
    if answer_words & asked_words:
        return True
    needed = min(2, len(asked_words))
    return any(
        len(words & asked_words) >= needed and words & answer_words
        for passage in passages
        for words in (content_words(s, lang) for s in passage_sentences(passage.text))
    )


# Words that qualify without naming anything ("une grande mutuelle"), and the question
# words themselves: an answer that adds only these to the question has said nothing.
_VAGUE_WORDS = {
    "fr": "grand grande gros grosse important importante principal principale petit petite certain certaine"
    " divers diverse plusieurs nombreux nombreuse différent différente autre tel telle",
    "en": "big large great major main important small little certain various several many numerous different"
    " other some such",
}
_QUESTION_WORDS = {
    "fr": "qui quel quelle quels quelles quoi comment combien où pourquoi quand lequel laquelle lesquels lesquelles",
    "en": "who whom whose what which when where why how",
}
# "que" asks "what" only at the start: "est-ce que" opens a yes/no question.
_FRENCH_WHAT = r"\bqu['’]est-ce\b|^\W*que\b"
_ASKS_WHICH = {
    "fr": re.compile(rf"\b({'|'.join(_QUESTION_WORDS['fr'].split())})\b|{_FRENCH_WHAT}", re.IGNORECASE),
    "en": re.compile(rf"\b({'|'.join(_QUESTION_WORDS['en'].split())})\b", re.IGNORECASE),
}
_YES_OR_NO = re.compile(r"^\W*(oui|non|yes|no)\b", re.IGNORECASE)


def restates_the_question(answer: str, question: str, asked: str, lang: str) -> bool:
    """Whether the answer to a "which / who / what" question only says the question again.

    "La mutuelle pour laquelle travaille notre expert est une grande mutuelle" answers
    "Pour quelle mutuelle travaille l'expert ?" without naming one: the model found the
    expert but no name. Any other word, number or name the answer adds counts as saying
    something. ``question`` decides whether it is such a question (a yes/no one is
    answered by "oui"); ``asked`` is everything the reader wrote.
    """
    asks_which = _ASKS_WHICH.get(lang)
    if asks_which is None or not asks_which.search(question) or _YES_OR_NO.match(answer):
        return False
    said = content_words(f"{asked} {_QUESTION_WORDS[lang]} {_VAGUE_WORDS[lang]}", lang)
    return not content_words(_MARKER.sub(" ", answer), lang) - said


def is_courtesy(question: str, courtesy_words: Sequence[str]) -> bool:
    """Whether the turn only greets or thanks: all its words, accents aside, are courtesy words."""
    words = re.findall(r"[a-z]+", fold(question))
    return bool(words) and set(words) <= set(courtesy_words)


def names_something(question: str, lang: str) -> bool:
    """Whether the question has a word besides stopwords and question words ("what?", "Qui ?" have none)."""
    return bool(content_words(question, lang) - content_words(_QUESTION_WORDS[lang], lang))


# A question without a question word asks yes or no (an order without a question mark
# does not), and so does one that opens with an auxiliary or "est-ce que" even with a
# "who" further on ("is there anything for kids who …").
_YES_NO_OPENING = {
    "fr": re.compile(r"^\W*(est-ce qu|y a-t-il)", re.IGNORECASE),
    "en": re.compile(
        r"^\W*(is|are|was|were|am|do|does|did|can|could|has|have|had|will|would|should|shall|may|might|must)\b",
        re.IGNORECASE,
    ),
}
_YES_NO_WORDS = "oui non si yes no not pas ne"


def asks_yes_or_no(question: str, lang: str) -> bool:
    """Whether the question is answered by yes or no ("odc orange c'est payant ?")."""
    if lang not in _ASKS_WHICH:
        return False
    if _YES_NO_OPENING[lang].match(question):
        return True
    return question.rstrip().endswith("?") and not _ASKS_WHICH[lang].search(question)


def adds_from_passages(answer: str, asked: str, passages: Sequence[Passage], lang: str) -> bool:
    """Whether the answer says something the question did not, in words a passage gives.

    To a yes/no question the passages do not answer, the small model replies with the
    question turned round ("No, La MedNum does not run a podcast"); to one they answer, it
    adds what they say ("Oui, les Orange Digital Center sont gratuits").
    """
    said = content_words(f"{asked} {_QUESTION_WORDS[lang]} {_VAGUE_WORDS[lang]} {_YES_NO_WORDS}", lang)
    given = content_words(" ".join(f"{p.title} {p.text}" for p in passages), lang)
    return any(
        word in given and not any(_same_word(word, other) for other in said)
        for word in content_words(_MARKER.sub(" ", answer), lang)
    )


def _same_word(stem: str, other: str) -> bool:
    """The stemmer leaves some forms apart ("proposent-ils" and "propose", "centers" and "center")."""
    if stem == other:
        return True
    shorter, longer = sorted((stem, other), key=len)
    return len(shorter) >= 4 and longer.startswith(shorter)


def asks_instead(answer: str) -> bool:
    """Whether every sentence of the answer is a question.

    The small model sometimes copies an interviewer's question from a passage ("Pouvez-vous
    nous présenter votre parcours professionnel ?") as its whole answer: that answers nothing.
    """
    sentences = passage_sentences(_MARKER.sub("", answer))
    return bool(sentences) and all(s.endswith("?") for s in sentences)


def _cited_numbers(text: str) -> list[int]:
    return [int(n) for marker in _MARKER.findall(text) for n in re.split(r"[,;]", marker)]


def _has_words(text: str) -> bool:
    """An answer made only of citation markers says nothing."""
    return len(re.findall(r"[^\W\d_]{2,}", _MARKER.sub("", text))) >= 3


def _history_language(turns: list[dict[str, str]]) -> str:
    users = [t["content"] for t in turns if t["role"] == "user"]
    return detect_language(users[-1]) if users else "fr"


def _citation(n: int, passage: Passage) -> Citation:
    return Citation(n, passage.chunk_id, passage.slug, passage.lang, passage.title, passage.url, passage.text)


_pipelines: dict[Settings, Pipeline] = {}
_pipelines_lock = threading.Lock()


def get_pipeline(settings: Settings | None = None) -> Pipeline:
    """The process-wide pipeline for ``settings``: models load once per process."""
    settings = settings or load_settings()
    with _pipelines_lock:
        if settings not in _pipelines:
            _pipelines[settings] = Pipeline.from_settings(settings)
        return _pipelines[settings]


def answer(question: str, history: Sequence[dict[str, str]] | None = None, settings: Settings | None = None) -> Answer:
    return get_pipeline(settings).answer(question, history)


def stream_answer(
    question: str, history: Sequence[dict[str, str]] | None = None, settings: Settings | None = None
) -> Iterator[Event]:
    return get_pipeline(settings).stream(question, history)
