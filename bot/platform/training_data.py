"""Shop owners' phrasings (data/shops/) checked against each other and the project's own
training data before a model is trained on them.

Rasa trains happily on an example listed twice, or on the same words under two intents, and
the model then learns noise: a buyer's "I no want am" could confirm in one shop's data and
cancel in ours. So every example is compared by its normalised text (case, spacing and entity
annotations ignored) and the owner is told exactly which file, intent and example to fix.
Read with PyYAML, not Rasa, so the check runs anywhere ``python -m bot`` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

# [text](entity), [text]{"entity": ...} and [text][...]: the text as the buyer typed it.
_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")


@dataclass(frozen=True)
class Example:
    path: Path
    intent: str
    text: str

    @property
    def key(self) -> str:
        return normalized(self.text)


def normalized(text: str) -> str:
    return " ".join(_ANNOTATION.sub(r"\1", text).lower().split())


def read_examples(path: Path) -> Iterator[Example]:
    document = yaml.safe_load(path.read_text()) or {}
    for block in document.get("nlu") or []:
        if "intent" not in block:
            continue
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                yield Example(path, str(block["intent"]), line[2:].strip())


def phrasing_problems(data_dir: Path, shops_dir: Path) -> list[str]:
    """Each shop example that repeats another (in its own file or elsewhere in ``data_dir``)
    or that gives the same words as another intent's example, one message per problem."""
    root = data_dir.parent
    shop_files = sorted(shops_dir.rglob("*.yml"))
    others = [p for p in sorted(data_dir.rglob("*.yml")) if p not in shop_files]
    seen: dict[str, Example] = {}
    for path in others:
        for example in read_examples(path):
            seen.setdefault(example.key, example)
    problems = []
    for path in shop_files:
        for example in read_examples(path):
            earlier = seen.get(example.key)
            if earlier is None:
                seen[example.key] = example
                continue
            where = earlier.path.relative_to(root)
            if earlier.intent == example.intent:
                what = f"repeats {earlier.text!r} of {where}"
            else:
                what = f"contradicts {where}, where {earlier.text!r} is intent {earlier.intent}"
            problems.append(
                f"{path.relative_to(root)}: intent {example.intent}: {example.text!r} {what}"
            )
    return problems
