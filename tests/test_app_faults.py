"""The app killed mid-answer, and its model file deleted while it runs."""

import shutil
import signal
import time

import pytest

from tests.conftest import smollm_env, smollm_path, store_snapshot
from tests.test_ui import Server

pytestmark = pytest.mark.slow


def ask(url: str, question: str) -> dict:
    from gradio_client import Client

    return Client(url, verbose=False).predict(question, [], api_name="/chat")


def test_killed_mid_answer_then_restarted(full_store):
    before = store_snapshot(full_store)
    env = smollm_env(RAG_GROUNDING_THRESHOLD="0", RAG_FACT_GROUNDING_THRESHOLD="0")
    server = Server(full_store, **env)
    from gradio_client import Client

    job = Client(server.url, verbose=False).submit("Qu'est-ce que la MedNum ?", [], api_name="/chat")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not job.outputs():
        time.sleep(0.05)
    assert job.outputs(), "no partial answer before the kill"
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=30)
    assert store_snapshot(full_store) == before
    restarted = Server(full_store, **env)
    try:
        result = ask(restarted.url, "What legal form does La MedNum have?")
        assert result["done"] and result["answer"]
    finally:
        restarted.stop()


def test_model_file_deleted_while_the_app_runs(full_store, tmp_path):
    model = tmp_path / "model.gguf"
    shutil.copy(smollm_path(), model)
    env = {
        "RAG_LLM_MODEL": str(model),
        "RAG_GROUNDING_THRESHOLD": "0",
        "RAG_FACT_GROUNDING_THRESHOLD": "0",
        "RAG_MAX_ANSWER_TOKENS": "40",
    }
    server = Server(full_store, **env)
    try:
        assert ask(server.url, "What is MedNum?")["done"]
        model.unlink()
        # the loaded model stays mapped in memory: answers go on until the app restarts
        assert ask(server.url, "Who runs La MedNum?")["done"]
    finally:
        server.stop()
    restarted = Server(full_store, **env)
    try:
        from gradio_client.exceptions import AppError

        with pytest.raises(AppError):
            ask(restarted.url, "What is MedNum?")
        log = restarted.output()
        assert str(model) in log and "does not exist" in log
    finally:
        restarted.stop()
