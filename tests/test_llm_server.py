"""RAG_LLM_URL: the same prompts and streaming through llama.cpp's OpenAI-compatible server."""

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from rag.llm import LLMError, OpenAICompatibleLLM
from rag.openmp import llama_settings
from tests.conftest import rag_env, run_rag, smollm_path
from tests.test_end_to_end import check_citations
from tests.test_ui import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("llm-server") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(smollm_path()),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "4096",
                "--n_threads",
                "2",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            # The spin limit `rag` gives its own llama.cpp (rag/openmp.py): spinning without one, the
            # server's threads crawl while the other test worker busies a core.
            env={**os.environ, **llama_settings()},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/v1/models", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"llama.cpp's server did not start:\n{log.read_text()}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_streaming_and_yes_no_through_the_server(llm_server):
    llm = OpenAICompatibleLLM(llm_server, "smollm2", 4096)
    pieces = list(llm.stream_chat([{"role": "user", "content": "Count from one to five."}], 30, 0.0))
    assert len(pieces) > 1 and "".join(pieces).strip()
    probability = llm.yes_probability(
        [{"role": "user", "content": "Is Paris in France? Reply with yes or no only."}], ("yes", "Yes"), ("no", "No")
    )
    assert 0.0 <= probability <= 1.0


def test_the_server_samples_with_the_seed(llm_server):
    story = [{"role": "user", "content": "Write one sentence about a cooperative."}]
    llm = OpenAICompatibleLLM(llm_server, "smollm2", 4096)
    first = llm.chat(story, 40, temperature=1.5, seed=7)
    llm.chat([{"role": "user", "content": "Say hello."}], 10, temperature=1.5, seed=7)
    assert llm.chat(story, 40, temperature=1.5, seed=7) == first
    others = {llm.chat(story, 40, 1.5, seed=s) for s in (8, 9)}
    assert others - {first}


def test_rag_ask_through_the_server(full_store, llm_server):
    env = rag_env(
        full_store,
        RAG_LLM_URL=llm_server,
        RAG_GROUNDING_THRESHOLD="0",
        RAG_FACT_GROUNDING_THRESHOLD="0",
        RAG_MAX_ANSWER_TOKENS="80",
    )
    result = run_rag(["ask", "--json", "What legal form does La MedNum have?"], env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["answer"] and not answer["abstained"]
    check_citations(answer)
    streamed = run_rag(["ask", "Qu'est-ce que la MedNum ?"], env)
    assert streamed.returncode == 0 and streamed.stdout.strip()


def test_abstention_through_the_server(full_store, llm_server):
    env = rag_env(
        full_store, RAG_LLM_URL=llm_server, RAG_GROUNDING_THRESHOLD="1.01", RAG_FACT_GROUNDING_THRESHOLD="1.01"
    )
    answer = json.loads(run_rag(["ask", "--json", "What is the budget of the foundation?"], env).stdout)
    assert answer["abstained"] and answer["answer"].startswith("The sources do not contain")


def test_an_unreachable_server_is_named(full_store):
    port = free_port()
    with pytest.raises(LLMError, match="cannot reach"):
        list(
            OpenAICompatibleLLM(f"http://127.0.0.1:{port}", "x", 4096).stream_chat(
                [{"role": "user", "content": "hi"}], 5, 0
            )
        )
    result = run_rag(["ask", "Who runs La MedNum?"], rag_env(full_store, RAG_LLM_URL=f"http://127.0.0.1:{port}"))
    assert (
        result.returncode == 4 and "cannot reach the LLM server" in result.stderr and "Traceback" not in result.stderr
    )
