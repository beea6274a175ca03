"""How well each configuration understands buyers: ``rasa test nlu`` on the held-out set and
cross-validated on data/ (the same folds for both), and the running server's own answers
(``POST /model/parse``, after its FallbackClassifier) scored for intent, fallback, exact ids
and codes, and replayed at other fallback thresholds."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.pipeline_heldout import HELDOUT, Example
from bench.pipeline_stacks import Candidate, Trained, rasa, rasa_env
from bench.processes import run_to_end
from bot.platform.settings import PROJECT_ROOT

CV_SEED = 20240601
TEST_TIMEOUT = 7200.0


@dataclass(frozen=True)
class NluScore:
    """What ``rasa test nlu`` wrote: intent accuracy and macro-F1, entity macro-F1."""

    intent_accuracy: float
    intent_macro_f1: float
    entity_macro_f1: float
    entity_extractor: str


@dataclass(frozen=True)
class Parsed:
    """One message as the running server parsed it (``POST /model/parse``)."""

    example: Example
    served_intent: str
    ranking: list[tuple[str, float]]
    entities: frozenset
    seconds: float


# Understanding, as rasa test nlu scores it


def read_scores(out: Path) -> NluScore:
    intents = json.loads((out / "intent_report.json").read_text())
    entity_reports = sorted(
        path
        for path in out.glob("*_report.json")
        if path.name not in ("intent_report.json", "response_selection_report.json")
    )
    entity_f1, extractor = float("nan"), "none"
    if entity_reports:
        report = json.loads(entity_reports[0].read_text())
        entity_f1 = report["macro avg"]["f1-score"]
        extractor = entity_reports[0].name.removesuffix("_report.json")
    return NluScore(intents["accuracy"], intents["macro avg"]["f1-score"], entity_f1, extractor)


def heldout_args(model: Path, out: Path) -> list[str]:
    heldout = str(HELDOUT.relative_to(PROJECT_ROOT))
    return rasa("test", "nlu", "--model", str(model), "--nlu", heldout, "--out", str(out))


def test_heldout(candidate: Candidate, trained: Trained, workdir: Path) -> NluScore:
    out = workdir / f"heldout-{candidate.name}"
    args = heldout_args(trained.model, out)
    run_to_end(args, rasa_env(workdir, candidate.name), out.with_suffix(".log"), TEST_TIMEOUT)
    return read_scores(out)


def cv_args(candidate: Candidate, folds: int, seed: int, out: Path) -> list[str]:
    """``rasa test nlu --cross-validation`` through bench.seeded_rasa: the same folds for every
    configuration."""
    config = str(candidate.config.relative_to(PROJECT_ROOT))
    return [
        sys.executable, "-m", "bench.seeded_rasa", str(seed), "test", "nlu", "--cross-validation",
        "--folds", str(folds), "--config", config, "--nlu", "data", "--out", str(out),
    ]  # fmt: skip


def cross_validate(candidate: Candidate, folds: int, seed: int, workdir: Path) -> NluScore:
    out = workdir / f"cv-{candidate.name}-{seed}"
    env = rasa_env(workdir, f"cv-{candidate.name}")
    run_to_end(cv_args(candidate, folds, seed, out), env, out.with_suffix(".log"), TEST_TIMEOUT)
    return read_scores(out)


def mean_score(scores: Sequence[NluScore]) -> NluScore:
    return NluScore(
        statistics.fmean(s.intent_accuracy for s in scores),
        statistics.fmean(s.intent_macro_f1 for s in scores),
        statistics.fmean(s.entity_macro_f1 for s in scores),
        scores[0].entity_extractor,
    )


# Understanding, as the running server answers


async def parse_all(url: str, token: str, examples: Sequence[Example]) -> list[Parsed]:
    """Each message through ``POST /model/parse``, one at a time: what the running assistant
    understands, after its FallbackClassifier."""
    parsed = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for example in examples:
            started = time.perf_counter()
            async with session.post(
                f"{url}/model/parse", params={"token": token}, json={"text": example.text}
            ) as response:
                response.raise_for_status()
                result = await response.json()
            seconds = time.perf_counter() - started
            ranking = [
                (intent["name"], float(intent["confidence"]))
                for intent in result.get("intent_ranking", [])
                if intent["name"] != "nlu_fallback"
            ]
            entities = frozenset((e["entity"], e["value"]) for e in result.get("entities", []))
            served_intent = (result.get("intent") or {}).get("name") or ""
            parsed.append(Parsed(example, served_intent, ranking, entities, seconds))
    return parsed


def served_accuracy(parsed: Sequence[Parsed]) -> float:
    """The share of messages whose served intent (nlu_fallback counts as wrong) is right."""
    return sum(p.served_intent == p.example.intent for p in parsed) / len(parsed)


def fallback_share(parsed: Sequence[Parsed]) -> float:
    return sum(p.served_intent == "nlu_fallback" for p in parsed) / len(parsed)


def answers_at(parsed: Sequence[Parsed], threshold: float, ambiguity: float) -> tuple[float, float]:
    """With another FallbackClassifier threshold, replayed from the raw ranking exactly as the
    FallbackClassifier decides: the share of messages answered right, and the share answered
    with a wrong intent (a wrong action, worse than the fallback's "type help")."""
    right = wrong = 0
    for p in parsed:
        (top, first), second = p.ranking[0], p.ranking[1][1] if len(p.ranking) > 1 else 0.0
        if first >= threshold and first - second >= ambiguity:
            right += top == p.example.intent
            wrong += top != p.example.intent
    return right / len(parsed), wrong / len(parsed)


def top_intent(parsed: Parsed) -> str:
    """The top intent before the FallbackClassifier, as ``rasa test nlu`` scores it."""
    return parsed.ranking[0][0] if parsed.ranking else parsed.served_intent


def fully_right(parsed: Sequence[Parsed]) -> float:
    """Share of messages answered with the right intent and exactly the right entities."""
    right = [
        p.served_intent == p.example.intent and p.entities == p.example.entities for p in parsed
    ]
    return sum(right) / len(right)


def entities_right(parsed: Sequence[Parsed]) -> tuple[float, int]:
    """Share of messages with an id or code whose entities are exactly the annotated ones, and
    the number of other messages given an entity they do not have."""
    annotated = [p for p in parsed if p.example.entities]
    right = sum(p.entities == p.example.entities for p in annotated) / max(1, len(annotated))
    spurious = sum(bool(p.entities) for p in parsed if not p.example.entities)
    return right, spurious


# The misreadings that change or block an order (issue 15): the buyer means one, the assistant
# hears the other.
OPPOSITES = frozenset(
    {
        ("cancel_order", "deny"),
        ("cancel_order", "affirm"),
        ("confirm_order", "deny"),
        ("confirm_order", "order_status"),
    }
)
ORDER_CHANGING = frozenset({"affirm", "deny", "confirm_order", "cancel_order"})


def is_opposite(meant: str, read: str) -> bool:
    return (meant, read) in OPPOSITES or (read, meant) in OPPOSITES


def opposites(parsed: Sequence[Parsed], *, served: bool = False) -> list[Parsed]:
    """Messages read as the opposite of what they mean: by top intent (as ``rasa test nlu``
    scores), or as served (what the assistant acts on; a message set aside is not acted on)."""
    return [
        p
        for p in parsed
        if is_opposite(p.example.intent, p.served_intent if served else top_intent(p))
    ]


def confusion(parsed: Sequence[Parsed]) -> dict[str, Counter]:
    """For each intent meant, how often each intent came out on top."""
    table: dict[str, Counter] = {}
    for p in parsed:
        table.setdefault(p.example.intent, Counter())[top_intent(p)] += 1
    return table


def asked_first(parsed: Sequence[Parsed]) -> list[Parsed]:
    """Order-changing messages the assistant set aside to ask a one-tap question about."""
    return [
        p
        for p in parsed
        if p.example.intent in ORDER_CHANGING and p.served_intent == "nlu_fallback"
    ]
