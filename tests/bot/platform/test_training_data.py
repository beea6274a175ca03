"""Shops' phrasings that repeat or contradict other examples are found, named precisely."""

from __future__ import annotations

from pathlib import Path

from bot.platform.settings import PROJECT_ROOT
from bot.platform.training_data import normalized, phrasing_problems

OURS = """\
version: "3.1"
nlu:
- intent: cancel_order
  examples: |
    - cancel [ORD-7F3K9Q](order_id) changed my mind
    - I no want am again
- regex: order_id
  examples: |
    - ORD-[0-9A-Z]{6}
"""


def data_dir(tmp_path: Path, shop_examples: dict[str, list[str]]) -> Path:
    data = tmp_path / "data"
    (data / "shops").mkdir(parents=True)
    (data / "nlu.yml").write_text(OURS)
    blocks = "".join(
        f"- intent: {intent}\n  examples: |\n" + "".join(f"    - {e}\n" for e in examples)
        for intent, examples in shop_examples.items()
    )
    (data / "shops" / "mama-put.yml").write_text(f'version: "3.1"\nnlu:\n{blocks}')
    return data


def test_the_project_phrasings_are_clean() -> None:
    data = PROJECT_ROOT / "data"
    assert phrasing_problems(data, data / "shops") == []


def test_new_phrasings_pass(tmp_path: Path) -> None:
    data = data_dir(tmp_path, {"greet": ["e kaabo o"], "cancel_order": ["I no need am"]})
    assert phrasing_problems(data, data / "shops") == []


def test_a_repeat_within_the_file_is_named(tmp_path: Path) -> None:
    data = data_dir(tmp_path, {"greet": ["e kaabo o", "E  kaabo O"]})
    assert phrasing_problems(data, data / "shops") == [
        "data/shops/mama-put.yml: intent greet: 'E  kaabo O' repeats 'e kaabo o' of "
        "data/shops/mama-put.yml"
    ]


def test_a_repeat_of_the_project_data_is_named(tmp_path: Path) -> None:
    data = data_dir(tmp_path, {"cancel_order": ["I no want am again"]})
    assert phrasing_problems(data, data / "shops") == [
        "data/shops/mama-put.yml: intent cancel_order: 'I no want am again' repeats "
        "'I no want am again' of data/nlu.yml"
    ]


def test_the_same_words_under_another_intent_are_a_contradiction(tmp_path: Path) -> None:
    data = data_dir(
        tmp_path,
        {"deny": ["i no want AM again"], "greet": ["hi"], "thanks": ["Hi"]},
    )
    assert phrasing_problems(data, data / "shops") == [
        "data/shops/mama-put.yml: intent deny: 'i no want AM again' contradicts data/nlu.yml, "
        "where 'I no want am again' is intent cancel_order",
        "data/shops/mama-put.yml: intent thanks: 'Hi' contradicts data/shops/mama-put.yml, "
        "where 'hi' is intent greet",
    ]


def test_annotations_are_compared_as_the_text_typed() -> None:
    assert normalized("Cancel [ORD-7F3K9Q](order_id)  changed my mind") == (
        "cancel ord-7f3k9q changed my mind"
    )
    assert normalized('cancel [ord-7f3k9q]{"entity": "order_id"}') == "cancel ord-7f3k9q"
