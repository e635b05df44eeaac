"""From a question (and the conversation so far) to a cited answer in the question's language.

The steps: rewrite a follow-up into a standalone question; retrieve; decide whether the
passages hold the answer (a yes/no grounding check read from the model's first-token
probabilities, because a small model told "say you don't know if..." in the answer
prompt refuses most answerable questions); then answer, each sentence cited as it
streams (`rag/citations.py`). An answer that says nothing but markers, or starts
repeating a sentence, is stopped and retried once with a firmer instruction; a second
marker-only answer abstains, a second loop is cut before it. A finished answer that
invents or does not answer (`rag/checks.py`) is withdrawn for the abstention message. A
turn that only greets or thanks, or a fresh question that names nothing, gets a fixed
message without a search.

The CLI, the web UI and the evaluation all call `Pipeline.stream` / `Pipeline.answer`.
"""

from __future__ import annotations

import contextlib
import threading
import time
import unicodedata
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.checks import (
    adds_from_passages,
    asks_about_unnamed_things,
    asks_for_a_fact,
    asks_yes_or_no,
    first_repetition,
    has_words,
    is_courtesy,
    names_something,
    readers_words,
    says_only_yes_or_no,
    why_withdrawn,
)
from rag.citations import AsideGuard, CitationFilter, SentenceCiter, TitleEchoFilter, cited_numbers
from rag.config import Settings, load_settings
from rag.embeddings import load_embedder
from rag.language import content_words, detect_language, has_names, shared_word_shares
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
# A sentence further from the question than an earlier one brings no new passage into the
# answer's citations (`AsideGuard`), and one that adds fewer words than this to the question
# sets no bar. Measured with bench/citations.py; see "Why the defaults" in the README.
ASIDE_BAR_WORDS = 2
# How much the words a sentence adds to the question count in choosing its citation: the
# share of them a passage holds. A copied name, figure or phrase points at its passage where
# the vectors blur it (a short passage's vector is mostly its heading). Measured with
# bench/citations.py; see "Why the defaults" in the README.
SHARED_WORDS_WEIGHT = 0.3


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
            max((prompts.answer, prompts.answer_retry, prompts.answer_specific), key=len),
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

        def first_token() -> None:
            timings.setdefault("first_token_s", time.perf_counter() - started)

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
            first_token()
            yield Token(message)
            yield finish(message, True, (), prompt_tokens)

        # The check scores yes/no questions low even when a passage answers them (dev-005 "odc
        # orange c'est payant ?"), so such a question is answered anyway, out of sight, and the
        # answer shown only if it says more than the question, in words a passage gives.
        doubted = grounding < self.grounding_threshold(asked, lang, turns)
        held = doubted and bool(passages) and asks_yes_or_no(asked, lang)
        if not passages or (doubted and not held):
            prompt_tokens = sum(self.llm.count_tokens(m["content"]) for m in check) if passages else 0
            yield from abstain(prompt_tokens, message=prompts.welcome if courtesy else prompts.abstention)
            return

        text, cited, prompt_tokens = yield from self._write(prompts, passages, standalone, not held, first_token)
        if (
            not held
            and asks_yes_or_no(asked, lang)
            and asks_about_unnamed_things(asked, lang)
            and says_only_yes_or_no(text, f"{asked} {standalone}", lang)
        ):
            # "Yes, other big tech companies used the same subcontractor as OpenAI" to "did other
            # big tech companies use …?": asked for the facts, the model names the companies. A
            # question about named things ("does La MedNum have over 100 members?") is answered
            # by "yes" and what it asks.
            yield Restart("the answer only said the question again; asking for the facts the passages give")
            text, cited, prompt_tokens = yield from self._write(
                prompts, passages, standalone, True, first_token, (prompts.answer_specific,)
            )
        if not has_words(text):
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
            first_token()
            yield Token(text)
        citations = tuple(_citation(n, passages[n - 1]) for n in cited)
        yield finish(text, False, citations, prompt_tokens)

    def grounding_threshold(self, asked: str, lang: str, turns: Sequence[dict[str, str]]) -> float:
        """The check's score below which the passages are taken not to answer the question.

        A fresh question that asks for one fact needs a surer check: passages about its
        subject that name other people, places, dates or figures score 0.6-0.71 (README, "Why
        the defaults"). A follow-up's check reads a rewrite, and scores lower when it is right.
        """
        if not turns and asks_for_a_fact(asked) and not asks_yes_or_no(asked, lang):
            return self.settings.fact_grounding_threshold
        return self.settings.grounding_threshold

    def _write(
        self,
        prompts: PromptSet,
        passages: Sequence[Passage],
        standalone: str,
        visible: bool,
        first_token: Callable[[], None],
        instructions: Sequence[str] = (),
    ) -> Generator[Event, None, tuple[str, list[int], int]]:
        """The model's answer, cited, and streamed as it comes when ``visible``.

        By default, an answer that cites nothing, says nothing or starts repeating itself is
        asked again once with a firmer instruction; ``instructions`` replaces the ones tried in
        turn. Returns the text, the passage numbers it cites and the tokens of the prompt read.
        """
        text, cited, prompt_tokens = "", [], 0
        for attempt, instruction in enumerate(instructions or (prompts.answer, prompts.answer_retry)):
            if attempt and visible:
                yield Restart(
                    "the answer cited no passage, said nothing or repeated itself;"
                    " asking again with a firmer instruction"
                )
            messages = answer_messages(prompts, passages, standalone, instruction)
            prompt_tokens = sum(self.llm.count_tokens(m["content"]) for m in messages)
            title_echo = TitleEchoFilter([p.title for p in passages])
            citation_filter = self._citer(passages, standalone, prompts.lang)
            pieces, repeat_at = [], None
            stream = self.llm.stream_chat(
                messages, self.settings.max_answer_tokens, self.settings.temperature, self.settings.seed
            )
            with contextlib.closing(stream):
                for piece in stream:
                    shown = citation_filter.feed(title_echo.feed(piece))
                    if shown:
                        pieces.append(shown)
                        if visible:
                            first_token()
                            yield Token(shown)
                        # A small model that repeats a sentence has lost the thread: stop it there.
                        if (repeat_at := first_repetition("".join(pieces))) is not None:
                            break
            if repeat_at is None:
                tail = citation_filter.feed(title_echo.flush()) + citation_filter.flush()
                if tail:
                    pieces.append(tail)
                    if visible:
                        yield Token(tail)
                text = "".join(pieces).strip()
            else:
                text = "".join(pieces)[:repeat_at].strip().rstrip(",;:").rstrip()
                if attempt and visible:
                    yield Restart("the model began repeating itself; its answer stops before the repetition")
                    yield Token(text)
            cited = [n for n in dict.fromkeys(cited_numbers(text)) if 1 <= n <= len(passages)]
            if cited and has_words(text) and repeat_at is None:
                break
        return text, cited, prompt_tokens

    def _citer(self, passages: Sequence[Passage], question: str, lang: str) -> SentenceCiter | CitationFilter:
        if not self.settings.check_citations:
            return CitationFilter(range(1, len(passages) + 1))

        answered: list[str] = []
        asked_words = content_words(question, lang)
        passage_words = [content_words(p.text, lang) for p in passages]

        def added_words(sentence: str) -> set[str]:
            return content_words(sentence, lang) - asked_words

        guard = AsideGuard(
            self.retriever.question_closeness(question), lambda sentence: len(added_words(sentence)), ASIDE_BAR_WORDS
        )

        def best_supporting(sentence: str) -> int | None:
            answered.append(sentence)
            own = self.retriever.support_scores(sentence, passages)
            so_far = self.retriever.support_scores(" ".join(answered), passages)
            shared = shared_word_shares(added_words(sentence), passage_words)
            scores = [
                a + ANSWER_SO_FAR_WEIGHT * b + SHARED_WORDS_WEIGHT * c
                for a, b, c in zip(own, so_far, shared, strict=True)
            ]
            if not scores:
                return None
            best = max(range(len(scores)), key=scores.__getitem__) + 1
            return best if guard.allows(sentence, best) else None

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
