"""What a reader waits for in the browser, against the same questions through `rag ask`.

Starts `app.py` on a free loopback port, asks N dev questions in Debian's chromium
(Playwright) and measures, from the click on "send", the time to the first visible
answer text (the notice naming the passages being read aside) and to the complete
answer (the text stops changing and the chat stops showing progress). Then asks the same
questions with `rag ask --json` and reads its own timings. The ratio browser / `rag ask`
shows what the web layer adds (target <= 1.1).

    python bench/browser.py [--questions 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time

from running_app import ROOT, running_app

from rag.evaluation import load_question_set
from rag.ui import READING_PREFIXES

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def in_browser(url: str, questions: list[str]) -> list[tuple[float, float]]:
    from playwright.sync_api import sync_playwright

    timings = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        for question in questions:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#question textarea")
            page.fill("#question textarea", question)
            started = time.perf_counter()
            page.click("#send")
            first = last_change = None
            text = ""
            while time.perf_counter() - started < 600:
                bots = page.locator("#chat .bot")
                current = bots.last.inner_text() if bots.count() else ""
                if current.startswith(READING_PREFIXES):
                    current = ""
                now = time.perf_counter() - started
                if current and first is None:
                    first = now
                if current != text:
                    text, last_change = current, now
                busy = page.locator("#chat .generating, #chat .pending").count() > 0
                if first is not None and not busy and now - last_change > 1.0:
                    break
                time.sleep(0.05)
            timings.append((first, last_change))
            page.close()
        browser.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=5)
    args = parser.parse_args()
    questions = [q.question for q in load_question_set(ROOT / "eval" / "dev.jsonl") if q.kind == "fact"]
    questions = questions[: args.questions]
    with running_app() as (url, _app):
        browser = in_browser(url, questions)
    cli = []
    for question in questions:
        result = subprocess.run(
            [sys.executable, "-m", "rag", "ask", "--json", question], capture_output=True, text=True, check=True
        )
        timings = json.loads(result.stdout)["timings"]
        cli.append((timings["first_token_s"], timings["total_s"]))
    print(f"{'question':60} {'browser first/total s':>22} {'rag ask first/total s':>22}")
    for question, (b_first, b_total), (c_first, c_total) in zip(questions, browser, cli, strict=True):
        print(f"{question[:60]:60} {b_first:>10.2f}/{b_total:<11.2f} {c_first:>10.2f}/{c_total:<11.2f}")
    first_ratio = statistics.median(b[0] / c[0] for b, c in zip(browser, cli, strict=True))
    total_ratio = statistics.median(b[1] / c[1] for b, c in zip(browser, cli, strict=True))
    print(
        f"median ratio browser / rag ask: first token {first_ratio:.2f}, complete answer {total_ratio:.2f}"
        " (target <= 1.1)"
    )


if __name__ == "__main__":
    main()
