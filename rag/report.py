"""Turning an evaluation run into report.md and a chart, and comparing two runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FAILURES_SHOWN = 8


def _fmt(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("value") is None:
        return "–"
    return f"{entry['value']:.2f} (n={entry['n']})"


def headline_rows(metrics: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    rows: list[tuple[str, dict[str, Any] | None]] = []
    if "answer_correctness" in metrics:
        rows += [
            ("answer correctness", metrics["answer_correctness"]["overall"]),
            ("abstention accuracy", metrics["abstention_accuracy"]),
            ("false-abstention rate", metrics["false_abstention_rate"]),
            ("language match", metrics["language_match"]["overall"]),
            ("citation validity", metrics["citation_validity"]),
            ("citation precision", metrics["citation_precision"]),
            ("answers citing nothing", metrics["uncited_answer_rate"]),
        ]
    rows += [(f"retrieval hit@{k}", metrics[f"hit@{k}"]["overall"]) for k in (1, 3, 5)]
    rows.append(("evidence recall@5 (multi)", metrics["evidence_recall@5_multi"]))
    return rows


def flat_metrics(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Every numeric figure under a dotted name, for comparisons."""
    flat: dict[str, float | None] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and "value" in value:
            flat[prefix] = value["value"]
        elif isinstance(value, dict) and "p50" in value:
            flat[f"{prefix}.p50"] = value["p50"]
            flat[f"{prefix}.p95"] = value["p95"]
        elif isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else key, sub)

    walk("", {k: v for k, v in metrics.items() if k != "run"})
    return flat


def write_chart(metrics: dict[str, Any], items: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = "answer_correctness" if "answer_correctness" in metrics else "hit@5"
    breakdown = metrics[key]
    labels, values = [], []
    for group in ("by_kind", "by_lang"):
        for name, entry in breakdown[group].items():
            labels.append(f"{name}\n(n={entry['n']})")
            values.append(entry["value"] or 0.0)
    if "abstention_accuracy" in metrics and metrics["abstention_accuracy"]["n"]:
        labels.append(f"abstention\n(n={metrics['abstention_accuracy']['n']})")
        values.append(metrics["abstention_accuracy"]["value"])
    latencies = [i["timings"].get("total_s") for i in items if i["timings"].get("total_s") is not None]
    figure, axes = plt.subplots(1, 2 if latencies else 1, figsize=(11 if latencies else 7, 4), squeeze=False)
    bars = axes[0][0]
    bars.bar(range(len(values)), values, color="#3b7dd8")
    bars.set_xticks(range(len(values)), labels, fontsize=8)
    bars.set_ylim(0, 1.1)
    bars.set_title("answer correctness by kind and language" if key == "answer_correctness" else "retrieval hit@5")
    for x, value in enumerate(values):
        bars.text(x, value + 0.02, f"{value:.2f}", ha="center", fontsize=8)
    if latencies:
        hist = axes[0][1]
        hist.hist(latencies, bins=15, color="#e07b39")
        hist.set_xlabel("seconds per answer")
        hist.set_ylabel("questions")
        p50 = metrics["latency_total_s"]["p50"]
        hist.set_title(f"latency (p50 {p50} s, p95 {metrics['latency_total_s']['p95']} s)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _failures(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    def failed(item: dict[str, Any]) -> bool:
        scores = item["scores"]
        if "correct" in scores:
            return not scores["correct"]
        if "abstention_correct" in scores:
            return not scores["abstention_correct"]
        return not scores.get("hit@5", True)

    def severity(item: dict[str, Any]) -> tuple:
        scores = item["scores"]
        return (not scores.get("hit@5", True), scores.get("abstained", False), item["id"])

    return sorted((i for i in items if failed(i)), key=severity, reverse=True)


def write_report(out_dir: Path, items: Sequence[dict[str, Any]], metrics: dict[str, Any]) -> Path:
    """report.md and chart.png beside results.jsonl and metrics.json."""
    run = metrics.get("run", {})
    write_chart(metrics, items, out_dir / "chart.png")
    lines = [
        f"# Evaluation of {run.get('set', 'a question set')}",
        "",
        f"- git revision: `{run.get('git_revision', 'unknown')}`; started at {run.get('date', '?')}",
        f"- mode: {'retrieval only' if run.get('retrieval_only') else 'full answers'}; {len(items)} questions",
        f"- settings: `{json.dumps(run.get('settings', {}), ensure_ascii=False)}`",
        "",
        "![accuracy and latency](chart.png)",
        "",
        "## Headline",
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {name} | {_fmt(entry)} |" for name, entry in headline_rows(metrics)],
    ]
    if "latency_total_s" in metrics:
        for name in ("latency_first_token_s", "latency_total_s"):
            entry = metrics[name]
            lines.append(f"| {name.replace('_', ' ')} | p50 {entry['p50']} s, p95 {entry['p95']} s (n={entry['n']}) |")
    for key in ("answer_correctness", "hit@5", "language_match"):
        if key not in metrics:
            continue
        lines += ["", f"## {key.replace('_', ' ')} by kind and language", "", "| group | value |", "|---|---|"]
        for group in ("by_kind", "by_lang"):
            lines += [f"| {name} | {_fmt(entry)} |" for name, entry in metrics[key][group].items()]
    failures = _failures(items)
    lines += ["", f"## Worst failures ({len(failures)} in all, {min(len(failures), FAILURES_SHOWN)} shown)", ""]
    for item in failures[:FAILURES_SHOWN]:
        lines += [
            f"### {item['id']} ({item['kind']}, {item['lang']})",
            "",
            f"**Question:** {item['question']}",
            "",
        ]
        if item.get("standalone_question") and item["standalone_question"] != item["question"]:
            lines += [f"**Searched as:** {item['standalone_question']}", ""]
        if item.get("answer"):
            lines += [f"**Answer:** {item['answer']}", ""]
        scores = ", ".join(f"{k}={v}" for k, v in item["scores"].items())
        lines += [f"Scores: {scores}", "", "Retrieved:", ""]
        for passage in item["retrieved"][:5]:
            excerpt = " ".join(passage["text"].split())[:240]
            lines.append(
                f"{passage['rank']}. `{passage.get('doc_id', passage['doc'])}` ({passage['score']:.3f}): {excerpt}…"
            )
        lines.append("")
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def outcome(item: dict[str, Any]) -> str:
    scores = item["scores"]
    for key in ("correct", "abstention_correct", "hit@5"):
        if key in scores:
            return f"{key}={scores[key]}"
    return "?"


class RunDirError(ValueError):
    """A folder given to compare is not a finished evaluation run."""


def _finished_metrics(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(
            f"{run_dir} holds no readable metrics.json, so it is not a finished `rag eval` run"
            f" ({exc.__class__.__name__}). A run that was stopped resumes where it stopped with the same"
            f" `rag eval SET --out {run_dir}`."
        ) from exc


def compare(dir_a: Path, dir_b: Path) -> dict[str, Any]:
    """The delta of every metric, and the questions whose outcome changed."""
    from rag.evaluation import read_results

    metrics_a, metrics_b = _finished_metrics(dir_a), _finished_metrics(dir_b)
    flat_a, flat_b = flat_metrics(metrics_a), flat_metrics(metrics_b)
    deltas = {}
    for name in sorted(set(flat_a) | set(flat_b)):
        a, b = flat_a.get(name), flat_b.get(name)
        deltas[name] = {"a": a, "b": b, "delta": round(b - a, 4) if a is not None and b is not None else None}
    items_a = {i["id"]: i for i in read_results(dir_a / "results.jsonl")}
    items_b = {i["id"]: i for i in read_results(dir_b / "results.jsonl")}
    changed = [
        {"id": qid, "a": outcome(items_a[qid]), "b": outcome(items_b[qid]), "question": items_b[qid]["question"]}
        for qid in sorted(set(items_a) & set(items_b))
        if outcome(items_a[qid]) != outcome(items_b[qid])
    ]
    return {"metrics": deltas, "changed": changed}
