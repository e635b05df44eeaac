"""The whole chain with real components: Chroma on disk, the default encoder, llama.cpp with real GGUF models.

SmolLM2 (98 MB) proves the wiring quickly; the default Qwen model answers real questions.
"""

import dataclasses
import json
from pathlib import Path

import pytest

from rag.answer import Done, Pipeline, Reading, Restart, Token
from rag.config import Settings, load_settings
from rag.llm import LlamaCppLLM, model_path
from rag.retrieval import RetrievalOptions, Retriever
from rag.store import open_store
from tests.conftest import SMOLLM_ANSWER_TOKENS, rag_env, run_rag, smollm_env, smollm_path
from tests.factories import ScriptedLLM

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def indexed(full_store) -> Settings:
    return full_store


def with_model(settings: Settings, model: Path | None) -> Settings:
    defaults = load_settings(env={})
    return dataclasses.replace(settings, llm_model=model, models_dir=defaults.models_dir)


def check_citations(answer: dict) -> None:
    given = {r["chunk_id"]: r for r in answer["retrieved"]}
    for citation in answer["citations"]:
        assert citation["chunk_id"] in given
        assert citation["text"] == given[citation["chunk_id"]]["text"]
        assert citation["doc"] == given[citation["chunk_id"]]["doc"]
        assert 1 <= citation["n"] <= 5


def test_rag_ask_json_with_smollm(indexed):
    env = rag_env(indexed, **smollm_env())
    result = run_rag(["ask", "--json", "How many EU member states worked on the digital commons report?"], env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) >= {"answer", "lang", "abstained", "citations", "retrieved", "standalone_question", "timings"}
    assert answer["lang"] == "en" and answer["answer"]
    assert set(answer["timings"]) >= {"retrieval_s", "first_token_s", "total_s"}
    assert len(answer["retrieved"]) == 10
    assert any("19 European" in r["text"] for r in answer["retrieved"][:5])
    check_citations(answer)


def test_streaming_yields_tokens_before_the_answer(indexed):
    settings = dataclasses.replace(with_model(indexed, smollm_path()), max_answer_tokens=int(SMOLLM_ANSWER_TOKENS))
    pipeline = Pipeline.from_settings(settings)
    events = list(pipeline.stream("Qu'est-ce que la MedNum ?"))
    assert isinstance(events[-1], Done)
    tokens = [e.text for e in events if isinstance(e, Token)]
    assert tokens and events[-1].answer.lang == "fr"
    if not events[-1].answer.abstained:
        assert len(tokens) > 1


def test_rag_ask_streams_to_the_terminal_with_sources(indexed):
    env = rag_env(indexed, **smollm_env())
    result = run_rag(["ask", "What legal form does La MedNum have?"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_a_sentence_is_cited_with_the_passage_whose_words_it_copies(indexed, embedder):
    """A recorded answer (dev-005), cited with the real encoder and store.

    By the vectors alone, passage [5], a short one that is mostly the heading "premiers retours
    sur l'Orange Digital Center", supported it best; the words are in another passage.
    """
    store = open_store(indexed, embedder.model_id, embedder.dimension)
    retriever = Retriever(store, embedder, RetrievalOptions.from_settings(indexed))
    llm = ScriptedLLM(["Oui, les Orange Digital Center sont gratuits et ouverts à tous."])
    answer = Pipeline(indexed, retriever, llm).answer("odc orange c'est payant ?")
    assert answer.citations
    assert all("ratuits et ouverts à tous" in c.text for c in answer.citations)


@pytest.mark.parametrize("question", ["", "   ", "?!", "x" * 3000])
def test_rag_ask_refuses_empty_or_huge_questions(indexed, question):
    result = run_rag(["ask", question], rag_env(indexed, **smollm_env()))
    assert result.returncode == 2
    assert "question" in result.stderr and "Traceback" not in result.stderr


def test_rag_ask_on_an_empty_store_says_to_index(tmp_path):
    env = rag_env(Settings(content_dir=tmp_path, store_dir=tmp_path / "none"), **smollm_env())
    result = run_rag(["ask", "Who runs La MedNum?"], env)
    assert result.returncode == 3 and "rag index" in result.stderr


def test_missing_or_broken_model_files_are_named(indexed, tmp_path):
    missing = tmp_path / "nowhere.gguf"
    result = run_rag(["ask", "Who runs La MedNum?"], rag_env(indexed, RAG_LLM_MODEL=str(missing)))
    assert result.returncode == 4 and str(missing) in result.stderr and "Traceback" not in result.stderr
    truncated = tmp_path / "truncated.gguf"
    with smollm_path().open("rb") as source:
        truncated.write_bytes(source.read(2_000_000))
    result = run_rag(["ask", "Who runs La MedNum?"], rag_env(indexed, RAG_LLM_MODEL=str(truncated)))
    assert result.returncode == 4 and "truncated.gguf" in result.stderr and "Traceback" not in result.stderr
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello")
    result = run_rag(["ask", "Who runs La MedNum?"], rag_env(indexed, RAG_LLM_MODEL=str(not_gguf)))
    assert result.returncode == 4 and "not a GGUF" in result.stderr


def test_a_question_gets_the_same_answer_whatever_was_asked_before():
    llm = LlamaCppLLM(smollm_path(), 2048, 2)
    story = [{"role": "user", "content": "Write one sentence about a cooperative."}]

    def sample(seed: int) -> str:
        return llm.chat(story, 40, temperature=1.5, seed=seed)

    first = sample(7)
    llm.chat([{"role": "user", "content": "Say hello."}], 10, temperature=1.5, seed=7)
    assert sample(7) == first
    # The seed is what makes it so: other seeds sample other sentences.
    others = {sample(seed) for seed in (8, 9)}
    assert others - {first}


def test_a_questions_check_does_not_depend_on_what_was_asked_before(indexed):
    """llama.cpp's arithmetic depends on how a prompt splits into batches: the default model's
    check of a dev question near the threshold, read whole or after another question whose
    opening it reused, gave P(yes) 0.581 and 0.589. Read from the saved state of its fixed
    opening, a question's check is the same however the reader got there. Only the checks
    run: at this threshold every question abstains after its check."""
    settings = dataclasses.replace(
        with_model(indexed, smollm_path()), grounding_threshold=1.01, fact_grounding_threshold=1.01
    )
    pipeline = Pipeline.from_settings(settings)
    question = "When and where is the next European Social Economy Summit after Strasbourg?"
    pipeline.llm.forget_prompts()
    read_first = pipeline.answer(question).grounding
    pipeline.answer("Quel budget est prévu pour la fondation européenne des communs numériques ?")
    assert pipeline.answer(question).grounding == read_first


def test_a_small_evaluation_run_resumes(indexed, tmp_path):
    from rag.config import PROJECT_ROOT

    env = rag_env(indexed, **smollm_env())
    out = tmp_path / "run"
    dev = str(PROJECT_ROOT / "eval" / "dev.jsonl")
    first = run_rag(["eval", dev, "--out", str(out), "--limit", "2"], env)
    assert first.returncode == 0, first.stderr
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2
    second = run_rag(["eval", dev, "--out", str(out), "--limit", "3", "--json"], env)
    assert second.returncode == 0, second.stderr
    again = (out / "results.jsonl").read_text().splitlines()
    assert again[:2] == lines and len(again) == 3
    item = json.loads(again[2])
    assert set(item) >= {
        "id",
        "lang",
        "kind",
        "question",
        "answer",
        "answer_lang",
        "abstained",
        "citations",
        "retrieved",
        "standalone_question",
        "timings",
    }
    assert all("text" in r and "rank" in r for r in item["retrieved"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["answer_correctness"]["overall"]["n"] == 1  # dev-003; dev-001 and dev-002 are unanswerable
    assert metrics["abstention_accuracy"]["n"] == 2
    assert (out / "chart.png").stat().st_size > 1000
    assert "## Headline" in (out / "report.md").read_text()
    compare = run_rag(["eval", "compare", str(out), str(out)], env)
    assert compare.returncode == 0 and "0 question(s) changed" in compare.stdout


def test_own_history_gives_a_follow_up_the_chatbots_earlier_answer(indexed, tmp_path):
    from rag.config import PROJECT_ROOT
    from rag.evaluation import load_question_set

    env = rag_env(indexed, **smollm_env())
    followups = PROJECT_ROOT / "eval" / "followups.jsonl"
    out = tmp_path / "run"
    run = run_rag(["eval", str(followups), "--out", str(out), "--limit", "1", "--own-history", "--json"], env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["run"]["own_history"] is True
    item = json.loads((out / "results.jsonl").read_text())
    written = load_question_set(followups)[0].history
    asked = run_rag(["ask", written[0]["content"], "--json"], env)
    assert asked.returncode == 0, asked.stderr
    own = json.loads(asked.stdout)["answer"]
    assert item["history"] == [written[0], {"role": "assistant", "content": own}]
    assert own != written[1]["content"]


@pytest.fixture(scope="module")
def qwen(indexed) -> Pipeline:
    settings = with_model(indexed, None)
    assert model_path(settings).is_file(), "the default model is installed by scripts/install.sh"
    return Pipeline.from_settings(settings)


def test_the_default_model_abstains_when_the_articles_do_not_say(qwen):
    """In English here; a French question the articles do not answer is La MedNum's budget, below."""
    answer = qwen.answer("When and where is the next European Social Economy Summit after Strasbourg?")
    assert answer.abstained and answer.text.startswith("The sources do not contain"), answer.text
    assert answer.citations == () and not answer.uncited
    assert answer.retrieved, "the passages were searched and judged, not skipped"


def test_the_default_model_answers_a_yes_or_no_question_its_check_doubts_only_from_the_passages(qwen):
    """dev-005 and yn-002: the check scores both below the threshold. Answered out of sight,
    the first answer adds what a passage says (the centres are free) and is shown; the
    second only turns the question round ("No, … does not run a podcast") and abstains."""
    events = list(qwen.stream("odc orange c'est payant ?"))
    answer = events[-1].answer
    assert answer.grounding < qwen.settings.grounding_threshold, "this question must be one the check doubts"
    assert not answer.abstained and "gratuit" in answer.text.lower(), answer.text
    assert answer.citations and not any(isinstance(e, Restart) for e in events)
    check_citations(answer.to_json())

    events = list(qwen.stream("Does the Social Good Accelerator run a podcast?"))
    answer = events[-1].answer
    assert answer.abstained and answer.text.startswith("The sources do not contain"), answer.text
    assert [e for e in events[:-1] if not isinstance(e, Reading)] == [Token(answer.text)], (
        "the withheld answer is never shown"
    )


@pytest.mark.parametrize(
    ("question", "abstention", "invented"),
    [
        # The passages are about the centre, so the grounding check lets the question through;
        # the model then makes up a street number, which no passage gives.
        (
            "What is the address of the Orange Digital Center in Saint-Ouen?",
            "The sources do not contain",
            "no passage contains",
        ),
        # The articles say a Greek association visited the stand without naming it; the model names
        # one, "the Greek Association for Social Economy (GASS)", an acronym no passage holds.
        (
            "What is the name of the Greek association whose representative visited the SEE stand?",
            "The sources do not contain",
            "GASS",
        ),
        # No article says who wrote Les Misérables; the model answers "Victor Hugo" from what it
        # knows and cites a passage: a name no passage holds a word of.
        ("Qui a écrit Les Misérables ?", "Les sources ne contiennent pas", "Victor Hugo"),
    ],
    ids=["address", "acronym", "own-knowledge"],
)
def test_the_default_models_invented_answer_is_withdrawn(qwen, question, abstention, invented):
    """Every question here has the common threshold: the surer one for questions asking for
    one fact may stop some of them first, and what is tested is the rule that withdraws the answer."""
    settings = dataclasses.replace(qwen.settings, fact_grounding_threshold=qwen.settings.grounding_threshold)
    common = Pipeline(settings, qwen.retriever, qwen.llm)
    events = list(common.stream(question))
    answer = events[-1].answer
    assert answer.grounding >= qwen.settings.grounding_threshold, "this question must reach the model"
    assert answer.abstained and answer.text.startswith(abstention), answer.text
    assert any(isinstance(e, Restart) and invented in e.reason for e in events)


def test_a_fact_the_passages_give_about_something_else_is_not_answered(qwen):
    """The passages about the summit name Strasbourg, where it was held; asked which city
    hosts the next one, the model answered "Strasbourg". The check scores the question
    between the common threshold and the one for questions asking for one fact."""
    events = list(qwen.stream("Which city will host the next European Social Economy Summit?"))
    answer = events[-1].answer
    assert qwen.settings.grounding_threshold <= answer.grounding < qwen.settings.fact_grounding_threshold
    assert answer.abstained and answer.text.startswith("The sources do not contain"), answer.text
    assert not any(isinstance(e, Restart) for e in events), "the check decides it before any answer is written"


def test_a_budget_the_articles_never_give_gets_the_abstention_message(qwen):
    """Asked La MedNum's budget, the model wrote "de millions de francs": a scale word no
    passage speaks of, which states no quantity. Whether the grounding check or the
    quantity check stops it, the reader gets the abstention message."""
    question = "Quel est le budget annuel de la MedNum ?"
    events = list(qwen.stream(question))
    answer = events[-1].answer
    assert answer.abstained and answer.text.startswith("Les sources ne contiennent pas"), answer.text
    assert answer.citations == () and not answer.uncited and answer.retrieved
    if answer.grounding >= qwen.grounding_threshold(question, "fr", []):
        assert any(isinstance(e, Restart) for e in events)


def test_the_default_models_answer_without_the_asked_quantity_is_withdrawn(qwen):
    """The articles speak of the Kenyan workers' pay without a figure; the model answered with
    "un salaire dérisoire", which states no quantity and so does not answer "combien". The
    grounding check, which may stop this question first, is switched off so that the quantity
    check is what is tested."""
    settings = dataclasses.replace(qwen.settings, grounding_threshold=0.0, fact_grounding_threshold=0.0)
    unchecked = Pipeline(settings, qwen.retriever, qwen.llm)
    events = list(unchecked.stream("Combien étaient payés les travailleurs kényans du sous-traitant d'OpenAI ?"))
    answer = events[-1].answer
    assert answer.abstained and answer.text.startswith("Les sources ne contiennent pas"), answer.text
    assert any(isinstance(e, Restart) and "asks for a quantity" in e.reason for e in events)
