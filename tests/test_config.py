from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT, SettingsError, load_settings
from tests.conftest import rag_env, run_rag


def test_defaults_resolve_against_the_project_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.content_dir == PROJECT_ROOT / "content"
    assert settings.store_dir == PROJECT_ROOT / "vectorstore"
    assert settings.chroma_url is None
    assert (settings.chunk_size, settings.chunk_overlap) == (800, 120)


def test_toml_then_environment_then_flags(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    toml = tmp_path / "conf" / "rag.toml"
    toml.write_text('content_dir = "articles"\nchunk_size = 600\nchunk_overlap = 50\n')
    monkeypatch.chdir(tmp_path)
    env = {"RAG_CONFIG": str(toml), "RAG_CHUNK_SIZE": "700"}
    settings = load_settings(env=env)
    assert settings.content_dir == tmp_path / "conf" / "articles"
    assert settings.chunk_size == 700
    assert settings.chunk_overlap == 50
    settings = load_settings({"chunk_size": 900, "store_dir": "here"}, env=env)
    assert settings.chunk_size == 900
    assert settings.store_dir == tmp_path / "here"


def test_empty_chroma_url_means_embedded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={"RAG_CHROMA_URL": ""}).chroma_url is None
    assert load_settings(env={"RAG_CHROMA_URL": "http://127.0.0.1:8001"}).chroma_url == "http://127.0.0.1:8001"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RAG_CHUNK_SIZE": "big"}, "RAG_CHUNK_SIZE"),
        ({"RAG_CHUNK_SIZE": "500", "RAG_CHUNK_OVERLAP": "400"}, "chunk_overlap"),
        ({"RAG_CONFIG": "/nonexistent/rag.toml"}, "RAG_CONFIG"),
    ],
)
def test_invalid_settings_are_named(env, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match=message):
        load_settings(env=env)


def test_unknown_toml_key_is_refused(tmp_path, monkeypatch):
    (tmp_path / "rag.toml").write_text("chunk_sise = 3\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match="chunk_sise"):
        load_settings(env={})


def test_cli_flag_beats_environment_and_bad_value_exits_2(tmp_path):
    env = {"RAG_CHUNK_SIZE": "oops", "PATH": "/usr/bin:/bin"}
    result = run_rag(["index", "--dry-run", "--content-dir", str(tmp_path)], env, cwd=tmp_path)
    assert result.returncode == 2
    assert "RAG_CHUNK_SIZE" in result.stderr
    assert "Traceback" not in result.stderr


def test_commands_work_from_outside_the_repository(small_content, settings_for, tmp_path: Path):
    settings = settings_for(small_content)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_rag(["index", "--json"], rag_env(settings), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    result = run_rag(["info", "--json"], rag_env(settings), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert '"total_documents": 3' in result.stdout
