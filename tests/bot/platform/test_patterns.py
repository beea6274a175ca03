"""The NLU regexes, the Python extractors and the annotated training data all agree."""

import re

import pytest
import yaml

from bot.platform.patterns import ORDER_ID_PATTERN, OTP_CODE_PATTERN, PHONE_NUMBER_PATTERN
from bot.platform.settings import PROJECT_ROOT
from bot.shop.order_ids import normalize_order_id

DATA = PROJECT_ROOT / "data"
PATTERNS = {
    "order_id": ORDER_ID_PATTERN,
    "otp_code": OTP_CODE_PATTERN,
    "phone_number": PHONE_NUMBER_PATTERN,
}
# `[text](entity)` or `[text]{"entity": "entity", ...}`
ANNOTATION_RE = re.compile(r'\[([^\]]+)\](?:\((\w+)\)|\{"entity":\s*"(\w+)"[^}]*\})')


def examples_of(item):
    return [
        line.strip()[2:].strip()
        for line in item["examples"].splitlines()
        if line.strip().startswith("- ")
    ]


def nlu_items(path):
    return yaml.safe_load(path.read_text())["nlu"]


def regexes():
    found = {}
    for item in nlu_items(DATA / "patterns.yml"):
        if "regex" in item:
            found[item["regex"]] = examples_of(item)
    return found


def intent_items():
    """Every intent item of the training data's own files (shops' phrasings are theirs)."""
    for path in sorted(DATA.glob("*.yml")):
        for item in yaml.safe_load(path.read_text()).get("nlu") or []:
            if "intent" in item:
                yield item


def annotated_examples():
    """(plain text, [(entity, start, end)]) for every intent example of the training data."""
    result = []
    for item in intent_items():
        if "intent" not in item:
            continue
        for example in examples_of(item):
            plain, spans, position = [], [], 0
            for match in ANNOTATION_RE.finditer(example):
                plain.append(example[position : match.start()])
                start = sum(len(p) for p in plain)
                plain.append(match.group(1))
                entity = match.group(2) or match.group(3)
                spans.append((entity, start, start + len(match.group(1))))
                position = match.end()
            plain.append(example[position:])
            result.append(("".join(plain), spans))
    return result


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_patterns_yml_holds_exactly_the_python_pattern(name):
    assert regexes()[name] == [PATTERNS[name]]


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_annotated_values_match_their_pattern_in_full(name):
    pattern = re.compile(PATTERNS[name])
    values = [
        text[start:end]
        for text, spans in annotated_examples()
        for entity, start, end in spans
        if entity == name
    ]
    assert len(values) >= 10
    mismatched = [value for value in values if not pattern.fullmatch(value)]
    assert mismatched == []


def test_annotated_order_ids_normalise():
    for text, spans in annotated_examples():
        for entity, start, end in spans:
            if entity == "order_id":
                assert normalize_order_id(text[start:end]) is not None, text


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_pattern_finds_exactly_the_annotated_spans(name):
    """In every example, the extractor finds what is annotated, and nothing that is not."""
    pattern = re.compile(PATTERNS[name])
    disagreements = []
    for text, spans in annotated_examples():
        annotated = [(start, end) for entity, start, end in spans if entity == name]
        found = [match.span() for match in pattern.finditer(text)]
        if found != annotated:
            disagreements.append((text, annotated, found))
    assert disagreements == []


def test_examples_are_parsed():
    """The helpers above see the training data (so the checks are not vacuous)."""
    examples = annotated_examples()
    assert len(examples) > 100
    assert any(spans for _, spans in examples)
    entities = {entity for _, spans in examples for entity, _, _ in spans}
    assert set(PATTERNS) <= entities
    assert not any("](" in text for text, _ in examples)
