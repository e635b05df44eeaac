"""The real app, started on a free loopback port for a benchmark, and stopped after it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(startup_timeout: float = 300) -> Iterator[tuple[str, subprocess.Popen]]:
    """Yield the app's URL and process; the current RAG_* settings apply."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115 - kept for reading after
    app = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")],
        env={**os.environ, "RAG_PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if app.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the app did not start; see {log.name}")
                time.sleep(0.5)
        print(f"app on {url} (log {log.name})")
        yield url, app
    finally:
        app.terminate()
        app.wait(timeout=30)
