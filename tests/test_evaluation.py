"""The scorer on hand-made cases, the question-set checks, and a small real run."""

import json

import pytest

from rag.evaluation import (
    Question,
    QuestionSetError,
    RetrievedText,
    answer_correct,
    evidence_found,
    is_abstention,
    load_question_set,
    normalize,
    retrieval_hit,
)
from tests.conftest import run_rag


def question(**changes) -> Question:
    base = dict(
        id="q1",
        lang="fr",
        kind="fact",
        question="?",
        history=(),
        answer="",
        must_include=(("inegalit", "inequalit"), ("14 million", "14M")),
        evidence=(),
        article=(),
    )
    base.update(changes)
    return Question(**base)


def test_normalisation_removes_accents_case_quotes_and_spaces():
    assert normalize("  Égalité\u00a0«  Numérique »\u202fet l’État ") == 'egalite " numerique " et l\'etat'
    assert normalize("“Quoted” ‘x’") == "\"quoted\" 'x'"


def test_every_group_needs_one_alternative_and_the_right_language():
    q = question()
    assert answer_correct(q, "Les INÉGALITÉS touchent 14 millions de personnes.", "fr")
    assert answer_correct(q, "Inequalities: 14M people.", "fr")
    assert not answer_correct(q, "Les inégalités touchent beaucoup de monde.", "fr")
    assert not answer_correct(q, "Inequalities affect 14 million people.", "en")


def test_substrings_match_without_word_boundaries():
    assert answer_correct(question(must_include=(("6,3", "6.3"),)), "On passe de 6,3 % à 10 %.", "fr")
    assert answer_correct(question(must_include=(("toxic",),)), "La toxicité des modèles.", "fr")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Les sources ne contiennent pas cette information.", True),
        ("Les documents ne précisent pas le budget.", True),
        ("The sources do not say when the next summit is.", True),
        ("This is not in the sources.", True),
        ("The summit will take place in Madrid in 2025.", False),
        ("Le sommet aura lieu à Madrid.", False),
    ],
)
def test_abstention_phrases(text, expected):
    assert is_abstention(text) is expected


def chunk(doc: str, position: int, start: int, text: str) -> RetrievedText:
    return RetrievedText(doc, position, start, start + len(text), text)


def test_neighbours_join_only_when_both_are_retrieved():
    evidence = ["the quick brown fox jumps over the lazy dog"]
    a = chunk("en/x", 3, 0, "Once upon a time the quick brown fox")
    b = chunk("en/x", 4, 27, "brown fox jumps over the lazy dog.")  # "brown fox" overlaps a
    far = chunk("en/x", 6, 200, "Unrelated words.")
    other = chunk("en/y", 4, 27, "brown fox jumps over the lazy dog.")
    assert retrieval_hit(evidence, [a, far, b], k=3)
    assert not retrieval_hit(evidence, [a, far, b], k=2)
    assert not retrieval_hit(evidence, [a, other], k=2)
    assert not retrieval_hit(evidence, [a, far], k=5)
    assert evidence_found(["upon a time", "lazy dog", "absent"], [a, b], k=2) == [True, True, False]


def test_neighbours_with_a_gap_are_joined_with_a_space():
    a = chunk("en/x", 0, 0, "the end of one")
    b = chunk("en/x", 1, 16, "paragraph and the next")
    assert retrieval_hit(["one paragraph and"], [b, a], k=2)


def write_set(tmp_path, lines) -> str:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines) + "\n")
    return path


GOOD = {"id": "a", "lang": "en", "kind": "fact", "question": "Q?", "must_include": [["x"]], "evidence": ["e"]}


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ("{not json", ":2: not valid JSON"),
        ({**GOOD, "id": "b", "lang": "de"}, ":2: field 'lang'"),
        ({**GOOD, "id": "b", "kind": "trivia"}, ":2: field 'kind'"),
        ({**GOOD, "id": "b", "must_include": "x"}, ":2: field 'must_include'"),
        ({**GOOD, "id": "b", "kind": "followup"}, ":2: field 'history'"),
        ({**GOOD}, ":2: field 'id'"),
        ({key: v for key, v in GOOD.items() if key != "question"}, ":2: field 'question'"),
        ({**GOOD, "id": "b", "question": "?!"}, ":2: field 'question': has no words"),
    ],
)
def test_malformed_sets_name_the_line_and_field(tmp_path, bad, where):
    path = write_set(tmp_path, [GOOD, bad])
    with pytest.raises(QuestionSetError, match=where):
        load_question_set(path)


def test_rag_eval_exits_2_on_a_malformed_set(tmp_path):
    path = write_set(tmp_path, [GOOD, {**GOOD, "id": "b", "lang": "de"}])
    result = run_rag(["eval", str(path), "--out", str(tmp_path / "out"), "--retrieval-only"], {"PATH": "/usr/bin"})
    assert result.returncode == 2
    assert "set.jsonl:2: field 'lang'" in result.stderr and "Traceback" not in result.stderr


def test_comparing_with_an_unfinished_run_says_so(tmp_path):
    finished, unfinished = tmp_path / "finished", tmp_path / "unfinished"
    for folder in (finished, unfinished):
        folder.mkdir()
        (folder / "results.jsonl").write_text("")
    (finished / "metrics.json").write_text("{}")
    result = run_rag(["eval", "compare", str(finished), str(unfinished)], {"PATH": "/usr/bin"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "not a finished `rag eval` run" in result.stderr and str(unfinished) in result.stderr
    assert run_rag(["eval", "compare", str(finished), str(finished)], {"PATH": "/usr/bin"}).returncode == 0


@pytest.mark.parametrize(
    ("name", "count", "kinds"),
    [
        ("dev", 40, {"fact", "cross", "multi", "unanswerable", "followup"}),
        ("extra", 32, {"fact", "cross", "multi", "unanswerable", "followup"}),
        ("followups", 12, {"followup"}),
        ("yesno", 13, {"fact", "cross", "unanswerable"}),
        ("unanswerable", 28, {"unanswerable"}),
    ],
)
def test_the_committed_question_sets_load(name, count, kinds):
    from rag.config import PROJECT_ROOT

    questions = load_question_set(PROJECT_ROOT / "eval" / f"{name}.jsonl")
    assert len(questions) == count and len({q.id for q in questions}) == count
    assert {q.kind for q in questions} == kinds


def test_own_history_answers_each_user_turn_with_the_turns_before_it():
    from rag.evaluation import live_history

    asked = []

    def reply(question, turns):
        asked.append((question, [t["content"] for t in turns]))
        return f"answer {len(asked)}"

    written = [
        {"role": "user", "content": "Where was the summit?"},
        {"role": "assistant", "content": "In Strasbourg."},
        {"role": "user", "content": "When?"},
        {"role": "assistant", "content": "In May 2022."},
    ]
    turns = live_history(written, reply)
    assert [t["content"] for t in turns] == ["Where was the summit?", "answer 1", "When?", "answer 2"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]
    assert asked == [("Where was the summit?", []), ("When?", ["Where was the summit?", "answer 1"])]


def test_own_history_needs_the_language_model(tmp_path):
    path = write_set(tmp_path, [GOOD])
    result = run_rag(
        ["eval", str(path), "--out", str(tmp_path / "out"), "--retrieval-only", "--own-history"], {"PATH": "/usr/bin"}
    )
    assert result.returncode == 2 and "--own-history needs the language model" in result.stderr


def test_a_run_records_the_code_revision_and_time_it_started(tmp_path):
    from rag.config import Settings
    from rag.evaluation import code_revision, write_metrics

    started = ("abc1234", "2026-12-07T16:00:00+00:00")
    metrics = write_metrics(tmp_path, [], True, Settings(), "set.jsonl", None, started=started)
    written = json.loads((tmp_path / "metrics.json").read_text())["run"]
    assert (
        (written["git_revision"], written["date"])
        == started
        == (metrics["run"]["git_revision"], metrics["run"]["date"])
    )
    assert write_metrics(tmp_path, [], True, Settings(), "set.jsonl", None)["run"]["git_revision"] == code_revision()
