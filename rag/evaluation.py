"""Scoring against a question set, following eval/README.md to the letter.

Normalisation: NFKD without combining marks, lowercase, curly quotes and guillemets
mapped to straight ones, whitespace runs collapsed. Retrieval counts an evidence string
as found when it is inside one of the top-k passages, or inside two top-k passages of
the same document that are neighbours, joined without their overlap.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from rag.language import fold

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
    return _SPACE.sub(" ", fold(text).translate(_QUOTES)).strip()


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
    if not any(c.isalnum() for c in item["question"]):
        raise fail("question", "has no words; the chatbot refuses such a question")
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


ABSTENTION_PHRASES = (
    "les sources ne",
    "les documents ne",
    "les articles ne",
    "les passages ne",
    "ne contiennent pas",
    "ne mentionnent pas",
    "ne precisent pas",
    "ne permettent pas de repondre",
    "aucune information",
    "pas d'information",
    "the sources do not",
    "the sources don't",
    "not in the sources",
    "the documents do not",
    "the articles do not",
    "the passages do not",
    "do not contain",
    "does not contain",
    "do not mention",
    "does not mention",
    "no information",
)


def is_abstention(answer: str, flagged: bool = False) -> bool:
    """An answer that says the sources do not hold the information."""
    text = normalize(answer)
    return flagged or any(phrase in text for phrase in ABSTENTION_PHRASES)


def answer_correct(question: Question, answer: str, answer_lang: str) -> bool:
    """Every must_include group matched, in the question's language (eval/README.md, rules 1 and 4)."""
    text = normalize(answer)
    groups_ok = all(any(normalize(alt) in text for alt in group) for group in question.must_include)
    return groups_ok and answer_lang == question.lang


def score_item(question: Question, result: dict[str, Any], retrieval_only: bool) -> dict[str, Any]:
    """The per-question outcomes that the metrics aggregate."""
    retrieved = [
        RetrievedText(r["doc_id"], r["position"], r["start"], r["end"], r["text"]) for r in result["retrieved"]
    ]
    score: dict[str, Any] = {}
    if question.evidence:
        for k in (1, 3, 5):
            score[f"hit@{k}"] = retrieval_hit(question.evidence, retrieved, k)
        found = evidence_found(question.evidence, retrieved, 5)
        score["evidence_recall@5"] = sum(found) / len(found)
    if retrieval_only:
        return score
    abstained = is_abstention(result["answer"], result["abstained"])
    score["abstained"] = abstained
    score["language_match"] = result["answer_lang"] == question.lang
    if question.kind == "unanswerable":
        score["abstention_correct"] = abstained
    else:
        score["correct"] = not abstained and answer_correct(question, result["answer"], result["answer_lang"])
    given = {c["chunk_id"] for c in result["citations"]}
    offered = {r["chunk_id"] for r in result["retrieved"]}
    score["citations"] = len(result["citations"])
    score["citations_valid"] = len(given & offered)
    if question.evidence:
        evidence = [normalize(e) for e in question.evidence]
        score["citations_with_evidence"] = sum(
            any(e in normalize(c["text"]) for e in evidence) for c in result["citations"]
        )
    return score


def _rate(values: Sequence[bool]) -> dict[str, Any]:
    return {"value": round(sum(values) / len(values), 4) if values else None, "n": len(values)}


def _percentiles(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 3)

    return {"p50": pick(0.5), "p95": pick(0.95), "n": len(ordered)}


def _breakdown(items: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    """The share of items where ``key`` is true: overall, by kind and by language."""
    scored = [i for i in items if key in i["scores"]]
    return {
        "overall": _rate([i["scores"][key] for i in scored]),
        "by_kind": {
            k: _rate([i["scores"][key] for i in scored if i["kind"] == k])
            for k in KINDS
            if any(i["kind"] == k for i in scored)
        },
        "by_lang": {
            lang: _rate([i["scores"][key] for i in scored if i["lang"] == lang])
            for lang in ("fr", "en")
            if any(i["lang"] == lang for i in scored)
        },
    }


def compute_metrics(items: Sequence[dict[str, Any]], retrieval_only: bool) -> dict[str, Any]:
    """Every metric of eval/README.md, each with the count it rests on."""
    metrics: dict[str, Any] = {f"hit@{k}": _breakdown(items, f"hit@{k}") for k in (1, 3, 5)}
    multi = [
        i["scores"]["evidence_recall@5"] for i in items if i["kind"] == "multi" and "evidence_recall@5" in i["scores"]
    ]
    metrics["evidence_recall@5_multi"] = {
        "value": round(sum(multi) / len(multi), 4) if multi else None,
        "n": len(multi),
    }
    if retrieval_only:
        return metrics
    answerable = [i for i in items if i["kind"] != "unanswerable"]
    metrics["answer_correctness"] = _breakdown(items, "correct")
    metrics["abstention_accuracy"] = _rate(
        [i["scores"]["abstention_correct"] for i in items if i["kind"] == "unanswerable"]
    )
    metrics["false_abstention_rate"] = _rate([i["scores"]["abstained"] for i in answerable])
    metrics["language_match"] = _breakdown(items, "language_match")
    cited = sum(i["scores"]["citations"] for i in items)
    valid = sum(i["scores"]["citations_valid"] for i in items)
    metrics["citation_validity"] = {"value": round(valid / cited, 4) if cited else None, "n": cited}
    with_evidence = [i for i in answerable if "citations_with_evidence" in i["scores"]]
    cited_answerable = sum(i["scores"]["citations"] for i in with_evidence)
    precise = sum(i["scores"]["citations_with_evidence"] for i in with_evidence)
    metrics["citation_precision"] = {
        "value": round(precise / cited_answerable, 4) if cited_answerable else None,
        "n": cited_answerable,
    }
    metrics["uncited_answer_rate"] = _rate(
        [i["scores"]["citations"] == 0 for i in answerable if not i["scores"]["abstained"]]
    )
    metrics["latency_total_s"] = _percentiles([i["timings"]["total_s"] for i in items if "total_s" in i["timings"]])
    metrics["latency_first_token_s"] = _percentiles(
        [i["timings"]["first_token_s"] for i in items if "first_token_s" in i["timings"]]
    )
    return metrics


def read_results(path: Path) -> list[dict[str, Any]]:
    """The finished lines of a results file; a line cut short by a crash is dropped."""
    if not path.exists():
        return []
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return items


def run_eval(
    questions: Sequence[Question],
    out_dir: Path,
    answer_item,
    retrieval_only: bool,
    progress=None,
) -> list[dict[str, Any]]:
    """Answer every question not yet in ``out_dir/results.jsonl``, appending one line each.

    ``answer_item(question)`` returns the result fields for one question. Running again with
    the same folder resumes where a previous run stopped.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / "results.jsonl"
    done = read_results(results_path)
    results_path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in done), encoding="utf-8")
    done_ids = {i["id"] for i in done}
    with results_path.open("a", encoding="utf-8") as out:
        for question in questions:
            if question.id in done_ids:
                if progress:
                    progress(question)
                continue
            result = {
                "id": question.id,
                "lang": question.lang,
                "kind": question.kind,
                "question": question.question,
                **answer_item(question),
            }
            result["scores"] = score_item(question, result, retrieval_only)
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
            out.flush()
            done.append(result)
            if progress:
                progress(question)
    order = {q.id: n for n, q in enumerate(questions)}
    return sorted((i for i in done if i["id"] in order), key=lambda i: order[i["id"]])


def retrieval_query(question: Question) -> str:
    """Without a model to rewrite a follow-up, search with the last exchange prepended."""
    from rag.retrieval import conversation_query

    return conversation_query(question.history, question.question)


def live_history(
    history: Sequence[dict[str, str]], reply: Callable[[str, list[dict[str, str]]], str]
) -> list[dict[str, str]]:
    """The conversation as the chat would hold it: each assistant turn is what ``reply`` answered.

    A set's written assistant turns name what a follow-up refers to; the model's own answers
    may not, and the follow-up then has to find its thread without that help.
    """
    turns: list[dict[str, str]] = []
    for turn in history:
        if turn["role"] == "user":
            answered = reply(turn["content"], list(turns))
            turns += [dict(turn), {"role": "assistant", "content": answered}]
    return turns


def make_answerer(settings, retrieval_only: bool, k: int | None, own_history: bool = False):
    """The function that turns one question into result fields: the full pipeline, or retrieval alone.

    With ``own_history``, a follow-up's earlier assistant turns are the pipeline's own answers.
    """
    import time

    from rag.answer import RETRIEVED_FOR_REPORT, get_pipeline, retrieved_json
    from rag.language import detect_language

    if retrieval_only:
        from rag.embeddings import load_embedder
        from rag.retrieval import RetrievalOptions, Retriever
        from rag.store import open_store

        embedder = load_embedder(settings.embedding_model, settings.threads, settings.embedding_batch_size)
        store = open_store(settings, embedder.model_id, embedder.dimension)
        retriever = Retriever(store, embedder, RetrievalOptions.from_settings(settings))

        def retrieve(question: Question) -> dict[str, Any]:
            query = retrieval_query(question)
            started = time.perf_counter()
            passages = retriever.search(
                query, max(RETRIEVED_FOR_REPORT, k or 0), lang=detect_language(question.question)
            )
            return {
                "answer": "",
                "answer_lang": "",
                "abstained": False,
                "citations": [],
                "retrieved": [retrieved_json(rank, p) for rank, p in enumerate(passages[:RETRIEVED_FOR_REPORT], 1)],
                "standalone_question": query,
                "timings": {"retrieval_s": round(time.perf_counter() - started, 3)},
            }

        return retrieve

    pipeline = get_pipeline(settings)

    def answer(question: Question) -> dict[str, Any]:
        history = list(question.history)
        if own_history and history:
            history = live_history(history, lambda asked, turns: pipeline.answer(asked, turns, k).text)
        result = pipeline.answer(question.question, history, k).to_json()
        result["answer_lang"] = detect_language(result["answer"], default="")
        if own_history and history:
            result["history"] = history
        return result

    return answer


def code_revision() -> str:
    """The git revision of the code, read when a run starts: a commit made during a run is not the code it ran."""
    import subprocess

    from rag.config import PROJECT_ROOT

    try:
        return subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_started() -> tuple[str, str]:
    """The code revision and the time, in UTC, when a run starts."""
    import datetime

    return code_revision(), datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def write_metrics(
    out_dir: Path,
    items,
    retrieval_only: bool,
    settings,
    set_path: str,
    k: int | None,
    own_history: bool = False,
    started: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """metrics.json, with what is needed to reproduce the run: git revision, settings, set.

    ``started`` is the code revision and the time when the run began; by default, now.
    """
    import dataclasses

    revision, date = started or run_started()
    metrics = compute_metrics(items, retrieval_only)
    private = ("content_dir", "store_dir", "models_dir", "feedback_file", "auth")
    chosen = {k: str(v) for k, v in dataclasses.asdict(settings).items() if k not in private}
    metrics["run"] = {
        "git_revision": revision,
        "date": date,
        "set": str(set_path),
        "questions": len(items),
        "retrieval_only": retrieval_only,
        "k": k or settings.top_k,
        "own_history": own_history,
        "settings": chosen,
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return metrics
