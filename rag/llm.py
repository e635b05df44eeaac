"""The language model: llama.cpp in this process, or an OpenAI-compatible server.

Both speak chat messages and stream text. The in-process model is loaded once per
process and used by one caller at a time (a Llama object is not thread-safe); a caller
waiting for it simply blocks. A server (``RAG_LLM_URL``: llama.cpp's server,
``python -m llama_cpp.server``, vLLM) gets the same messages, so prompts and streaming
behave the same way. Each request carries its sampling seed: otherwise llama-cpp-python
derives it from the previous request's, and an answer would depend on what was asked
before it.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.model_files import DEFAULT_MODEL, ModelFileError, check_model_file, default_model_path
from rag.openmp import llama_settings, runtime_env

log = logging.getLogger(__name__)

Message = dict[str, str]


class LLMError(RuntimeError):
    """The model cannot be loaded or reached; the message says what to do."""


class LLM(ABC):
    """A chat model that streams its reply."""

    name: str
    context_size: int

    @abstractmethod
    def count_tokens(self, text: str) -> int: ...

    @abstractmethod
    def stream_chat(
        self, messages: list[Message], max_tokens: int, temperature: float, seed: int = 0
    ) -> Iterator[str]: ...

    def chat(self, messages: list[Message], max_tokens: int, temperature: float = 0.0, seed: int = 0) -> str:
        return "".join(self.stream_chat(messages, max_tokens, temperature, seed))

    @abstractmethod
    def yes_probability(
        self, messages: list[Message], yes: tuple[str, ...], no: tuple[str, ...], preamble: list[Message] | None = None
    ) -> float:
        """P(yes) / (P(yes) + P(no)) for the reply's first token: a yes/no answer with its confidence.

        With ``preamble``, the messages the prompt opens with, a model in this process reads the
        prompt from a saved state of that opening, so the probability depends on the prompt alone,
        not on what was read before it.
        """

    def forget_prompts(self) -> None:
        """Make the next prompt be read whole, so a benchmark compares cold reads.

        A server's prompt cache cannot be cleared from here: a short unrelated prompt displaces it.
        """
        self.chat([{"role": "user", "content": "Say OK."}], 2)


def _share_of_yes(logprobs: dict[str, float], yes: tuple[str, ...], no: tuple[str, ...]) -> float:
    p_yes = sum(math.exp(lp) for token, lp in logprobs.items() if token.strip() in yes)
    p_no = sum(math.exp(lp) for token, lp in logprobs.items() if token.strip() in no)
    return p_yes / (p_yes + p_no) if p_yes + p_no > 0 else 0.5


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens two sequences share from their start."""
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        shared += 1
    return shared


@dataclass
class PromptState:
    tokens: list[int]
    kv: bytes


class PromptStates:
    """The KV cache of a few recent prompts, so a prompt that starts like one read before skips that part.

    llama.cpp keeps one prompt in its context and reuses its longest common prefix with the
    next. A follow-up first asks the model for a standalone question, a prompt that shares
    nothing with the passages, and then its grounding prompt often starts with the passages
    the previous turn read (3 of the 5 follow-ups of the question sets begin with the same
    1-2 passages: 200-400 tokens). So before a prompt displaces tokens, their KV cache is
    kept (about 28 KB a token for the default model), and a later prompt that shares more
    with a kept state than with the context starts from that state. Only speed depends on
    it: llama-cpp-python still matches the prompt against the tokens it holds.

    llama-cpp-python's own LlamaRAMCache saves the whole context after every call, with a
    copy of its logits buffer (311 MB for the default model) that its capacity does not
    count: in bench/followups.py it read as few tokens but added 1.0-1.8 GB and was no faster.
    """

    def __init__(self, llama: Any, capacity: int = 4, max_bytes: int = 512 << 20, min_tokens: int = 16) -> None:
        from llama_cpp import llama_chat_format

        self._llama = llama
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.min_tokens = min_tokens
        self._states: list[PromptState] = []
        self._preambles: dict[tuple[int, ...], PromptState] = {}
        model = llama._model
        self._formatter = llama_chat_format.Jinja2ChatFormatter(
            template=llama.metadata["tokenizer.chat_template"],
            eos_token=model.token_get_text(llama.token_eos()) if llama.token_eos() != -1 else "",
            bos_token=model.token_get_text(llama.token_bos()) if llama.token_bos() != -1 else "",
        )

    def prompt_tokens(self, messages: list[Message]) -> list[int]:
        """The tokens llama-cpp-python's chat completion will read for ``messages``."""
        formatted = self._formatter(messages=messages)
        return self._llama.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)

    def prepare(self, messages: list[Message]) -> None:
        """Keep the context's state if this prompt displaces it; start from a kept state that fits better."""
        tokens = self.prompt_tokens(messages)
        current = list(self._llama._input_ids)
        in_context = common_prefix(current, tokens)
        if len(current) - in_context >= self.min_tokens:
            self._keep(current)
        best = max(self._states, key=lambda state: common_prefix(state.tokens, tokens), default=None)
        if best is not None and common_prefix(best.tokens, tokens) >= in_context + self.min_tokens:
            self._restore(best)

    def prepare_from_preamble(self, messages: list[Message], preamble: list[Message]) -> None:
        """Start from the saved state of the prompt's opening (``preamble``), whatever the context holds.

        llama.cpp's arithmetic depends on how a prompt is split into batches, and a prompt read
        after another one that shares its first tokens splits differently: the grounding check of
        dev-009 gave P(yes) 0.581 read alone and 0.589 after another question: near the
        threshold, that decides between answering and abstaining. Read from one saved state of
        its opening, a prompt gets the same logits whatever came before it. It reads what it
        read before, the opening aside, except a prompt asked again straight after itself,
        which is read again.
        """
        tokens = self.prompt_tokens(messages)
        opening = tokens[: common_prefix(self.prompt_tokens(preamble), tokens)]
        current = list(self._llama._input_ids)
        if len(current) - common_prefix(current, opening) >= self.min_tokens:
            self._keep(current)
        saved = self._preambles.get(tuple(opening))
        if saved is None or not self._load(saved):
            self._llama.reset()
            if opening:
                self._llama.eval(opening)
                self._preambles[tuple(opening)] = PromptState(opening, self._save())

    def clear(self) -> None:
        self._states.clear()
        self._preambles.clear()

    def _save(self) -> bytes:
        import llama_cpp

        ctx = self._llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        return bytes(memoryview(buffer)[:written])

    def _load(self, state: PromptState) -> bool:
        import llama_cpp

        llama = self._llama
        buffer = (ctypes.c_uint8 * len(state.kv)).from_buffer_copy(state.kv)
        if llama_cpp.llama_state_seq_set_data(llama._ctx.ctx, buffer, len(state.kv), 0) != len(state.kv):
            llama.reset()
            return False
        llama.input_ids[: len(state.tokens)] = state.tokens
        llama.n_tokens = len(state.tokens)
        llama._requires_eval = True
        return True

    def _keep(self, tokens: list[int]) -> None:
        states = [s for s in self._states if common_prefix(s.tokens, tokens) < len(s.tokens)]
        states.append(PromptState(tokens, self._save()))
        while len(states) > self.capacity or (len(states) > 1 and sum(len(s.kv) for s in states) > self.max_bytes):
            states.pop(0)
        self._states = states

    def _restore(self, state: PromptState) -> None:
        self._states.remove(state)
        if self._load(state):
            self._states.append(state)


STATE_ERRORS = (AttributeError, ImportError, KeyError, TypeError, ValueError)


class LlamaCppLLM(LLM):
    """A GGUF model run by llama-cpp-python in this process."""

    def __init__(self, path: Path, context_size: int, threads: int) -> None:
        try:
            with runtime_env(llama_settings()):
                from llama_cpp import Llama
        except ImportError as exc:
            raise LLMError("llama-cpp-python is not installed: run scripts/install.sh") from exc
        try:
            self._llama = Llama(
                model_path=str(path), n_ctx=context_size, n_threads=threads, n_threads_batch=threads, verbose=False
            )
        except (ValueError, RuntimeError) as exc:
            raise LLMError(
                f"llama.cpp could not load {path}: {exc}. The file may be truncated or not a chat model;"
                " run `rag model install` for the default model, or point RAG_LLM_MODEL at another GGUF."
            ) from exc
        atexit.register(self._llama.close)
        self._lock = threading.Lock()
        self.name = path.name
        self.context_size = context_size
        self._states: PromptStates | None = None
        if "tokenizer.chat_template" in self._llama.metadata:
            try:
                self._states = PromptStates(self._llama)
            except STATE_ERRORS as exc:
                self._without_states(exc)

    def _prepare(self, messages: list[Message], preamble: list[Message] | None = None) -> None:
        if self._states is None:
            return
        try:
            if preamble:
                self._states.prepare_from_preamble(messages, preamble)
            else:
                self._states.prepare(messages)
        except STATE_ERRORS as exc:
            self._without_states(exc)

    def _without_states(self, exc: Exception) -> None:
        """Another llama-cpp-python may have moved the internals the states rely on: answers stay right, only slower."""
        log.warning("prompt states disabled: %s", exc)
        self._states = None
        self._llama.reset()

    def forget_prompts(self) -> None:
        with self._lock:
            if self._states is not None:
                self._states.clear()
            self._llama.reset()

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream_chat(self, messages: list[Message], max_tokens: int, temperature: float, seed: int = 0) -> Iterator[str]:
        with self._lock:
            self._prepare(messages)
            stream = self._llama.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature, stream=True, seed=seed
            )
            for event in stream:
                text = event["choices"][0]["delta"].get("content")
                if text:
                    yield text

    def yes_probability(
        self, messages: list[Message], yes: tuple[str, ...], no: tuple[str, ...], preamble: list[Message] | None = None
    ) -> float:
        import numpy as np
        from llama_cpp import LogitsProcessorList

        first_logits: list[np.ndarray] = []

        def record(_input_ids, scores):
            if not first_logits:
                first_logits.append(np.array(scores, dtype=np.float64))
            return scores

        with self._lock:
            self._prepare(messages, preamble)
            self._llama.create_chat_completion(
                messages=messages, max_tokens=1, temperature=0.0, logits_processor=LogitsProcessorList([record])
            )
        probs = np.exp(first_logits[0] - first_logits[0].max())

        def first_tokens(words: tuple[str, ...]) -> set[int]:
            return {self._llama.tokenize(w.encode("utf-8"), add_bos=False, special=False)[0] for w in words}

        yes_ids, no_ids = first_tokens(yes), first_tokens(no)
        p_yes = float(sum(probs[t] for t in yes_ids - no_ids))
        p_no = float(sum(probs[t] for t in no_ids - yes_ids))
        return p_yes / (p_yes + p_no) if p_yes + p_no > 0 else 0.5


class OpenAICompatibleLLM(LLM):
    """A model behind an OpenAI-compatible /v1/chat/completions endpoint."""

    def __init__(self, url: str, model: str, context_size: int, timeout: float = 300.0) -> None:
        import httpx

        self._client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)
        self._model = model
        self.name = f"{model} at {url}"
        self.context_size = context_size

    def count_tokens(self, text: str) -> int:
        """An upper bound: servers differ in how (or whether) they expose their tokenizer."""
        return len(text.encode("utf-8")) // 3 + 1

    def stream_chat(self, messages: list[Message], max_tokens: int, temperature: float, seed: int = 0) -> Iterator[str]:
        import httpx

        body = {
            "model": self._model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": seed,
            "stream": True,
        }
        try:
            with self._client.stream("POST", "/v1/chat/completions", json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise LLMError(f"the LLM server answered {response.status_code}: {response.text[:500]}")
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    choices = json.loads(data).get("choices") or [{}]
                    text = (choices[0].get("delta") or {}).get("content")
                    if text:
                        yield text
        except httpx.HTTPError as exc:
            raise LLMError(f"cannot reach the LLM server at {self._client.base_url}: {exc}") from exc

    def yes_probability(
        self, messages: list[Message], yes: tuple[str, ...], no: tuple[str, ...], preamble: list[Message] | None = None
    ) -> float:
        import httpx

        body = {
            "model": self._model,
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": 20,
        }
        try:
            response = self._client.post("/v1/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise LLMError(f"cannot reach the LLM server at {self._client.base_url}: {exc}") from exc
        if response.status_code != 200:
            raise LLMError(f"the LLM server answered {response.status_code}: {response.text[:500]}")
        choice = response.json()["choices"][0]
        content = ((choice.get("logprobs") or {}).get("content") or [{}])[0]
        logprobs = {item["token"]: item["logprob"] for item in content.get("top_logprobs", [])}
        if not logprobs:
            reply = (choice.get("message") or {}).get("content", "").strip()
            return 1.0 if reply.startswith(yes) else 0.0
        return _share_of_yes(logprobs, yes, no)


_loaded: dict[tuple, LLM] = {}
_load_lock = threading.Lock()


def model_path(settings: Settings) -> Path:
    return settings.llm_model or default_model_path(settings.models_dir)


def load_llm(settings: Settings) -> LLM:
    """The process-wide model for these settings, loaded on first use."""
    key = (
        settings.llm_url,
        settings.llm_api_model,
        str(model_path(settings)),
        settings.context_size,
        settings.llm_threads,
    )
    with _load_lock:
        if key not in _loaded:
            _loaded[key] = _load(settings)
        return _loaded[key]


def _load(settings: Settings) -> LLM:
    if settings.llm_url:
        return OpenAICompatibleLLM(settings.llm_url, settings.llm_api_model, settings.context_size)
    path = model_path(settings)
    try:
        check_model_file(path, None if settings.llm_model else DEFAULT_MODEL)
    except ModelFileError as exc:
        raise LLMError(str(exc)) from exc
    log.info("loading %s", path)
    return LlamaCppLLM(path, settings.context_size, settings.llm_threads)
