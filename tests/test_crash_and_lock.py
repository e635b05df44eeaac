"""`rag index` killed with SIGKILL part-way, and two writers at once."""

import os
import re
import select
import signal
import subprocess
import sys
import time

import filelock
import pytest

from rag.indexer import lock_path
from tests.conftest import SMALL_CORPUS_BODY_CHARS, copy_articles, rag_env, run_rag, store_snapshot

pytestmark = pytest.mark.slow
PROGRESS = re.compile(rb"(\d+)/(\d+) \[")


def index_and_kill_at(env, embedded_at_least: int | None, timeout: float = 120) -> bool:
    """Start `rag index`; SIGKILL it once its progress bar shows ``embedded_at_least`` chunks.

    ``None`` kills it once every chunk is embedded, while the last writes may be under way.

    Returns False if the run finished before reaching that point.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag", "index"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 0.05)
            if ready:
                data = os.read(proc.stderr.fileno(), 4096)
                if not data:
                    break
                seen += data
            bars = [(int(m.group(1)), int(m.group(2))) for m in PROGRESS.finditer(seen)]
            target = bars[-1][1] if bars and embedded_at_least is None else embedded_at_least
            if (target == 0 and b"Indexing" in seen) or (bars and target and bars[-1][0] >= target):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return True
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.mark.parametrize("kill_at", [0, 1, 9, None])
def test_killed_index_then_rerun_equals_a_clean_build(kill_at, tmp_path, settings_for, built_copy, clean_snapshot):
    articles = ("en/mednum.md", "fr/digital-commons.md", "en/ai-social-economy.md")
    content = copy_articles(tmp_path / "content", articles, SMALL_CORPUS_BODY_CHARS)
    settings = built_copy(settings_for(content))
    env = rag_env(settings)
    # change one document, delete one, add one, then kill the run that applies it
    doc = content / "en" / "mednum.md"
    doc.write_text(
        doc.read_text()
        .replace("## What is MedNum?", "## What is La MedNum?")
        .replace("about 15 people", "about 16 people")
    )
    (content / "fr" / "digital-commons.md").unlink()
    copy_articles(content, ("fr/mednum.md",), SMALL_CORPUS_BODY_CHARS)
    assert index_and_kill_at(env, kill_at), "the run ended before the kill point"

    rerun = run_rag(["index"], env)
    assert rerun.returncode == 0, rerun.stderr
    assert store_snapshot(settings) == clean_snapshot(content)
    again = run_rag(["index", "--json"], env)
    assert '"chunks_embedded": 0' in again.stdout


def test_killed_first_build_recovers(tmp_path, settings_for, clean_snapshot):
    content = copy_articles(tmp_path / "content", ("en/mednum.md", "fr/mednum.md"), SMALL_CORPUS_BODY_CHARS)
    settings = settings_for(content)
    assert index_and_kill_at(rag_env(settings), 9)
    assert run_rag(["index"], rag_env(settings)).returncode == 0
    assert store_snapshot(settings) == clean_snapshot(content)


def test_a_second_writer_gets_the_lock_message(small_content, settings_for):
    settings = settings_for(small_content)
    with filelock.FileLock(str(lock_path(settings))):
        result = run_rag(["index"], rag_env(settings, RAG_LOCK_TIMEOUT="1"))
    assert result.returncode == 3
    assert "another `rag index` is writing" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_runs_at_once_leave_a_consistent_store(small_content, settings_for, clean_snapshot):
    settings = settings_for(small_content)
    env = rag_env(settings, RAG_LOCK_TIMEOUT="0.5")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rag", "index", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 3]), results
    if codes == [0, 3]:
        assert any("another `rag index` is writing" in err for _, _, err in results)
    assert store_snapshot(settings) == clean_snapshot(small_content)
