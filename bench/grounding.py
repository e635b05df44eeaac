"""Which signal tells an answerable question from one the passages do not answer?

For each question of recorded `rag eval` runs, the bench gives the model the same
passages and question as the answer prompt, then asks several final instructions on that
shared prefix (llama.cpp reads the passages once per question):

- ``grounding``: the project's yes/no check, P(yes);
- ``exact``: "do the passages give the exact answer, not only related information?", P(yes);
- ``none``: "copy the words that answer the question, or write NONE": 1 - P(a first word of refusal);
- ``answer_mean`` / ``answer_low``: the model's own confidence in the answer the run recorded
  (its markers removed), read token by token under the answer prompt: the mean log-probability,
  and the mean of its five least likely tokens;
- ``verify`` / ``verify_else``: the recorded answer given back after the answer prompt, then a
  yes/no question about it in a new user turn, P(yes). Asked this way the check reuses the
  whole answer prompt llama.cpp has just read, so it would cost only the answer's tokens.

It prints each question's scores, then for each signal how well it separates the
unanswerable questions from the answerable ones the run answered right (AUROC), and how
many unanswerable questions each threshold catches for the right answers it would lose.

    python bench/grounding.py runs/dev runs/extra
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import numpy as np

from rag.config import load_settings
from rag.embeddings import load_embedder
from rag.llm import model_path
from rag.openmp import llama_settings, runtime_env
from rag.prompts import PROMPTS_DIR_DEFAULT, answer_messages, fit_passages, load_prompts
from rag.retrieval import Passage, RetrievalOptions, Retriever
from rag.store import open_store

PROBES = {
    "exact": (
        "Do the passages above give the exact answer to the question, not only related information?"
        " Reply with yes or no only."
    ),
    "none": (
        "Copy, word for word, the part of the passages above that answers the question."
        " If the passages do not answer it, write NONE."
    ),
}
VERIFY = {
    "verify": "Do the passages above state this answer to the question? Reply with yes or no only.",
    "verify_else": (
        "Does your answer give exactly what the question asks, as the passages state it, and not something"
        " the passages say about another subject? Reply with yes or no only."
    ),
}
REFUSALS = {"none", "no", "non", "aucun", "aucune"}
MARKER = re.compile(r"\s*\[[\d,; ]+\]")


class Scorer:
    """llama.cpp with every position's logits kept, so a recorded answer can be read token by token."""

    def __init__(self, path: Path, context_size: int, threads: int) -> None:
        with runtime_env(llama_settings()):
            from llama_cpp import Llama, llama_chat_format
        self.llama = Llama(
            model_path=str(path),
            n_ctx=context_size,
            n_threads=threads,
            n_threads_batch=threads,
            logits_all=True,
            verbose=False,
        )
        model = self.llama._model
        self.formatter = llama_chat_format.Jinja2ChatFormatter(
            template=self.llama.metadata["tokenizer.chat_template"],
            eos_token=model.token_get_text(self.llama.token_eos()),
            bos_token="",
        )
        self.vocab = [
            self.llama.detokenize([i]).decode("utf-8", errors="ignore").strip().lower()
            for i in range(self.llama.n_vocab())
        ]

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def tokens(self, messages: list[dict[str, str]], reply: str = "") -> list[int]:
        prompt = self.formatter(messages=messages).prompt + reply
        return self.llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def read(self, tokens: list[int]) -> None:
        """Evaluate ``tokens``, reusing the longest prefix already in the cache."""
        self.llama.create_completion(prompt=tokens, max_tokens=1, temperature=0.0)

    def next_token_probs(self, tokens: list[int]) -> np.ndarray:
        self.read(tokens)
        logits = np.array(self.llama.scores[len(tokens) - 1], dtype=np.float64)
        probs = np.exp(logits - logits.max())
        return probs / probs.sum()

    def share(self, probs: np.ndarray, words: set[str], against: set[str] | None = None) -> float:
        """P(first token in ``words``) / (that + P(in ``against``)); against None: against everything else."""
        hit = sum(probs[i] for i, w in enumerate(self.vocab) if w in words)
        if against is None:
            return float(hit)
        other = sum(probs[i] for i, w in enumerate(self.vocab) if w in against)
        return float(hit / (hit + other)) if hit + other > 0 else 0.5

    def reply_logprobs(self, messages: list[dict[str, str]], reply: str) -> list[float]:
        prompt = self.tokens(messages)
        full = self.tokens(messages, reply)
        self.read(full)
        start = len(prompt)
        rows = np.array(self.llama.scores[start - 1 : len(full) - 1], dtype=np.float64)
        rows -= rows.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(rows).sum(axis=1))
        return [float(rows[i, t] - log_norm[i]) for i, t in enumerate(full[start:])]


def score_question(scorer: Scorer, prompts, passages, question: str, answer: str | None) -> dict[str, float]:
    def probe(instruction: str) -> np.ndarray:
        return scorer.next_token_probs(scorer.tokens(answer_messages(prompts, passages, question, instruction)))

    yes, no = set(map(str.lower, prompts.yes)), set(map(str.lower, prompts.no))
    scores = {
        "grounding": scorer.share(probe(prompts.grounding), yes, no),
        "exact": scorer.share(probe(PROBES["exact"]), {"yes"}, {"no"}),
        "none": 1.0 - scorer.share(probe(PROBES["none"]), REFUSALS),
    }
    if answer:
        logprobs = scorer.reply_logprobs(answer_messages(prompts, passages, question, prompts.answer), answer)
        scores["answer_mean"] = sum(logprobs) / len(logprobs)
        scores["answer_low"] = sum(sorted(logprobs)[:5]) / min(5, len(logprobs))
        asked = answer_messages(prompts, passages, question, prompts.answer)
        for name, instruction in VERIFY.items():
            turns = [*asked, {"role": "assistant", "content": answer}, {"role": "user", "content": instruction}]
            scores[name] = scorer.share(scorer.next_token_probs(scorer.tokens(turns)), yes, no)
    return scores


def auroc(positives: list[float], negatives: list[float]) -> float:
    """P(a positive scores above a negative), ties counting half."""
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="rag eval output folders (results.jsonl)")
    parser.add_argument("--out", type=Path, help="also write every question's scores here (JSON lines)")
    parser.add_argument("--answered", action="store_true", help="only the questions the run answered")
    args = parser.parse_args()
    settings = load_settings()
    embedder = load_embedder(settings.embedding_model, settings.threads, settings.embedding_batch_size)
    store = open_store(settings, embedder.model_id, embedder.dimension)
    retriever = Retriever(store, embedder, RetrievalOptions.from_settings(settings))
    stored = {chunk.chunk_id: chunk for chunk in store.iter_chunks()}
    scorer = Scorer(model_path(settings), settings.context_size, settings.llm_threads)
    budget = settings.context_size - settings.max_answer_tokens

    rows = []
    for run in args.runs:
        for line in (run / "results.jsonl").read_text(encoding="utf-8").splitlines():
            result = json.loads(line)
            if args.answered and result["abstained"]:
                continue
            question = result["standalone_question"]
            prompts = load_prompts(PROMPTS_DIR_DEFAULT, result["lang"])
            if "passages_given" in result:
                given = result["retrieved"][: result["passages_given"]]
                passages = [Passage.from_stored(stored[r["chunk_id"]], r["score"]) for r in given]
            else:
                retrieved = retriever.search(question, settings.top_k, lang=result["lang"]) if question else []
                passages = fit_passages(prompts, retrieved, question, prompts.answer_retry, scorer.count_tokens, budget)
            if not passages:
                continue
            answer = None if result["abstained"] else MARKER.sub("", result["answer"])
            scores = score_question(scorer, prompts, passages, question, answer)
            if result["kind"] == "unanswerable":
                outcome = "unanswerable"
            elif result["scores"].get("correct"):
                outcome = "right"
            else:
                outcome = "abstained" if result["abstained"] else "wrong"
            recorded = result.get("grounding")
            row = {
                "id": result["id"],
                "kind": result["kind"],
                "outcome": outcome,
                "recorded_grounding": recorded,
                **scores,
            }
            rows.append(row)
            print(
                f"{row['id']:10} {row['kind'][:6]:6} {outcome:12} "
                + " ".join(f"{name} {value:6.3f}" for name, value in scores.items())
                + (f"  (run's grounding {recorded:.3f})" if recorded is not None else ""),
                flush=True,
            )
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    print("\nsignal        AUROC   unanswerable caught / right answers lost, at each threshold")
    for name in ("grounding", "exact", "none", "answer_mean", "answer_low", *VERIFY):
        unanswerable = [r[name] for r in rows if r["outcome"] == "unanswerable" and name in r]
        right = [r[name] for r in rows if r["outcome"] == "right" and name in r]
        if not unanswerable or not right:
            continue
        trade = []
        for threshold in sorted(set(unanswerable)):
            caught = sum(u <= threshold for u in unanswerable)
            lost = sum(r <= threshold for r in right)
            trade.append(f"{caught}/{lost}")
        print(
            f"{name:12} {1 - auroc(unanswerable, right):6.3f}   n={len(unanswerable)}/{len(right)}: " + " ".join(trade)
        )
    if any(not math.isnan(r.get("recorded_grounding") or math.nan) for r in rows):
        gaps = [abs(r["grounding"] - r["recorded_grounding"]) for r in rows if r.get("recorded_grounding")]
        print(f"\nthis bench's grounding vs the run's: largest difference {max(gaps):.4f} (same prompt, same model)")


if __name__ == "__main__":
    main()
