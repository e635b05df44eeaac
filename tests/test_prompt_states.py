"""A prompt that starts like one read before reads only what differs, and answers as if read whole."""

from __future__ import annotations

import pytest

from rag.config import PROJECT_ROOT
from rag.llm import LlamaCppLLM, PromptStates, common_prefix
from tests.conftest import smollm_path


def article(name: str) -> str:
    return (PROJECT_ROOT / "content" / "en" / name).read_text(encoding="utf-8")[:2400]


PASSAGES = article("mednum.md")
SYSTEM = {"role": "system", "content": "You answer from the passages you are given."}


def about_the_passages(question: str, passages: str = PASSAGES) -> list[dict[str, str]]:
    return [SYSTEM, {"role": "user", "content": f"Passages:\n{passages}\n\nQuestion: {question}"}]


UNRELATED = [SYSTEM, {"role": "user", "content": "Rewrite as a standalone question: and who runs it?"}]


@pytest.fixture(scope="module")
def smollm():
    return LlamaCppLLM(smollm_path(), context_size=2048, threads=2)


@pytest.fixture
def evaluated(smollm, monkeypatch):
    """The number of tokens llama.cpp reads, counted on the real model."""
    count = [0]
    read = smollm._llama.eval

    def counting(tokens):
        count[0] += len(tokens)
        return read(tokens)

    monkeypatch.setattr(smollm._llama, "eval", counting)
    return count


def test_common_prefix():
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix([1, 2], [1, 2]) == 2


@pytest.fixture
def without_states(smollm):
    """The same model reading every prompt whole, from an empty context."""

    def whole_read():
        smollm._llama.reset()
        smollm._states = None

    states = smollm._states
    yield whole_read
    smollm._states = states


@pytest.mark.slow
def test_a_prompt_that_starts_like_an_earlier_one_reads_only_what_differs(smollm, evaluated, without_states):
    first, second = about_the_passages("Who runs La MedNum?"), about_the_passages("Is La MedNum a cooperative?")
    tokens = smollm._states.prompt_tokens(second)
    shared = common_prefix(smollm._states.prompt_tokens(first), tokens)
    assert shared > 400, "the two prompts share the passages"
    smollm.chat(first, 8)
    smollm.chat(UNRELATED, 8)
    evaluated[0] = 0
    p_yes = smollm.yes_probability(second, ("yes", "Yes"), ("no", "No"))
    assert evaluated[0] <= len(tokens) - shared + 2, f"read {evaluated[0]} of {len(tokens)} tokens"

    without_states()
    evaluated[0] = 0
    assert smollm.yes_probability(second, ("yes", "Yes"), ("no", "No")) == pytest.approx(p_yes, abs=0.02)
    assert evaluated[0] >= len(tokens) - 1, "read whole this time"


@pytest.mark.slow
def test_a_check_read_from_its_opening_gives_the_same_probability_whatever_was_read_before(smollm, evaluated):
    opening = [SYSTEM, {"role": "user", "content": "Passages:"}]
    check = about_the_passages("Is La MedNum a cooperative?")
    tokens = smollm._states.prompt_tokens(check)
    opening_tokens = common_prefix(smollm._states.prompt_tokens(opening), tokens)
    assert opening_tokens > 5
    before = [
        [],
        [UNRELATED],
        [about_the_passages("Who runs La MedNum?")],
        [check],
        [about_the_passages("What is it about?", article("digital-commons.md")), UNRELATED],
    ]
    smollm.forget_prompts()
    probabilities, read = [], []
    for earlier in before:
        for messages in earlier:
            smollm.chat(messages, 4)
        evaluated[0] = 0
        probabilities.append(smollm.yes_probability(check, ("yes", "Yes"), ("no", "No"), opening))
        read.append(evaluated[0])
    assert len(set(probabilities)) == 1, f"P(yes) varied with what came before: {probabilities}"
    assert read[0] == len(tokens), "from an empty context: the opening, then the rest"
    assert read[1:] == [len(tokens) - opening_tokens] * (len(before) - 1), "afterwards, all but the saved opening"

    other = about_the_passages("What is it about?", article("digital-commons.md"))
    smollm.chat(other, 4)
    smollm.yes_probability(check, ("yes", "Yes"), ("no", "No"), opening)
    evaluated[0] = 0
    smollm.chat(other, 4)
    assert evaluated[0] < 16, "the prompt the opening displaced was kept for reuse"


@pytest.mark.slow
def test_answers_from_a_kept_state_are_those_of_a_whole_read(smollm, without_states):
    question = about_the_passages("What does La MedNum do?")
    smollm.chat(question, 1)
    smollm.chat(UNRELATED, 8)
    from_kept_state = smollm.chat(question, 24)
    without_states()
    assert smollm.chat(question, 24) == from_kept_state


@pytest.mark.slow
def test_a_llama_cpp_python_without_what_states_rely_on_still_answers(smollm, monkeypatch):
    states = smollm._states

    def moved(messages):
        raise AttributeError("'Llama' object has no attribute '_input_ids'")

    monkeypatch.setattr(states, "prepare", moved)
    try:
        assert smollm.chat(about_the_passages("Who runs La MedNum?"), 8).strip()
        assert smollm._states is None
    finally:
        smollm._states = states


@pytest.mark.slow
@pytest.mark.parametrize(("capacity", "max_bytes", "kept"), [(2, 512 << 20, 2), (4, 1, 1)])
def test_kept_states_are_bounded_by_count_and_bytes(smollm, capacity, max_bytes, kept):
    prompts = [
        about_the_passages("What is it about?", article(name)[:800])
        for name in ("mednum.md", "digital-commons.md", "social-economy-summit.md", "ai-social-economy.md")
    ]
    states = smollm._states
    smollm._states = bounded = PromptStates(smollm._llama, capacity=capacity, max_bytes=max_bytes)
    try:
        for messages in prompts:
            smollm.chat(messages, 1)
        newest_first = [bounded.prompt_tokens(messages) for messages in reversed(prompts[:-1])]
        assert [len(state.kv) > 0 for state in bounded._states] == [True] * kept
        for state, tokens in zip(reversed(bounded._states), newest_first, strict=False):
            assert state.tokens[: len(tokens)] == tokens, "the newest displaced prompts are the ones kept"
    finally:
        smollm._states = states


@pytest.mark.slow
def test_forgotten_prompts_are_read_whole(smollm, evaluated):
    question = about_the_passages("Who runs La MedNum?")
    smollm.chat(question, 1)
    smollm.chat(UNRELATED, 8)
    smollm.forget_prompts()
    evaluated[0] = 0
    smollm.chat(question, 1)
    assert evaluated[0] >= len(smollm._states.prompt_tokens(question)) - 1
