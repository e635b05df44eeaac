"""N readers chatting at once with the real app, over loopback.

Starts `app.py` on a free loopback port (with the current settings, so the default model
unless RAG_LLM_MODEL or RAG_LLM_URL says otherwise), then for each N sends N questions
at once from N gradio_client sessions through the `chat` endpoint, each with its own
history, and reports: throughput, time to first token and total latency (p50/p95), the
queue wait (first token beyond the single-reader first token), errors, and the app's
peak memory. Bounded: one question per session, a time limit per request.

    python bench/load.py [--sessions 1 4 16] [--timeout 600]
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from running_app import ROOT, running_app

from rag.evaluation import load_question_set


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def one_session(url: str, question: str, timeout: float, out: dict) -> None:
    from gradio_client import Client

    started = time.perf_counter()
    try:
        client = Client(url, verbose=False)
        job = client.submit(question, [], api_name="/chat")
        first = None
        for partial in job:
            if first is None and partial.get("answer"):
                first = time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                job.cancel()
                raise TimeoutError(f"no answer within {timeout} s")
        result = job.result(timeout=timeout)
        out.update(
            ok=bool(result.get("done")),
            first=first or (time.perf_counter() - started),
            total=time.perf_counter() - started,
        )
    except Exception as exc:  # a load test counts failures instead of stopping at the first
        out.update(ok=False, error=repr(exc), total=time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", nargs="+", type=int, default=[1, 4, 16])
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    questions = [q.question for q in load_question_set(ROOT / "eval" / "dev.jsonl") if q.kind == "fact"]
    with running_app() as (url, app):
        print(
            f"{'N':>3} {'wall s':>7} {'answers/min':>11} {'ttft p50/p95 s':>15} {'total p50/p95 s':>16}"
            f" {'queue wait p50 s':>16} {'errors':>6} {'app peak MB':>11}"
        )
        solo_first = None
        for n in args.sessions:
            results = [{} for _ in range(n)]
            threads = [
                threading.Thread(
                    target=one_session, args=(url, questions[i % len(questions)], args.timeout, results[i])
                )
                for i in range(n)
            ]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
            ok = [r for r in results if r.get("ok")]
            firsts = [r["first"] for r in ok]
            totals = [r["total"] for r in ok]
            if solo_first is None and firsts:
                solo_first = percentile(firsts, 0.5)
            wait = percentile([max(0.0, f - (solo_first or 0.0)) for f in firsts], 0.5)
            print(
                f"{n:>3} {wall:>7.1f} {len(ok) / wall * 60:>11.1f}"
                f" {percentile(firsts, 0.5):>7.1f}/{percentile(firsts, 0.95):<7.1f}"
                f" {percentile(totals, 0.5):>8.1f}/{percentile(totals, 0.95):<7.1f}"
                f" {wait:>16.1f} {n - len(ok):>6} {peak_rss_mb(app.pid):>11.0f}"
            )
            for r in results:
                if not r.get("ok"):
                    print(f"    error: {r.get('error')}")


if __name__ == "__main__":
    main()
