"""A damaged store is detected before use, with a message, and `rag index --rebuild` recovers it."""

import pytest

from tests.conftest import rag_env, run_rag, store_snapshot

pytestmark = pytest.mark.slow


def test_a_damaged_store_is_named_and_rebuilt(small_content, settings_for):
    settings = settings_for(small_content)
    assert run_rag(["index"], rag_env(settings)).returncode == 0
    database = settings.store_dir / "chroma.sqlite3"
    with database.open("r+b") as handle:
        handle.truncate(database.stat().st_size // 3)
    for command in (["info"], ["index"]):
        result = run_rag(command, rag_env(settings))
        assert result.returncode == 3, result.stderr
        assert "is damaged" in result.stderr and "rag index --rebuild" in result.stderr
        assert "Traceback" not in result.stderr
    result = run_rag(["index", "--rebuild"], rag_env(settings))
    assert result.returncode == 0, result.stderr
    clean = settings_for(small_content, "clean")
    assert run_rag(["index"], rag_env(clean)).returncode == 0
    assert store_snapshot(settings) == store_snapshot(clean)
