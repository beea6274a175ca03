"""``rasa data validate --fail-on-warnings``, aware of the responses our custom actions utter.

Rasa's validator warns about every response that no story or rule mentions, so it cannot pass on
an assistant whose actions choose their words from the domain. This runs the same checks with
that one made exact: a response uttered by an action counts as used, and an action that utters a
response the domain lacks is an error.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Set

import rasa.shared.utils.io
from rasa.cli.utils import _validate_domain, _validate_nlu, _validate_story_structure
from rasa.shared.core.events import ActionExecuted
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.validator import Validator

ROOT = Path(__file__).resolve().parent.parent
_RESPONSE_NAME = re.compile(r"[\"'](utter_[a-z0-9_]+)[\"']")


def responses_uttered_by_actions(actions_dir: Path = ROOT / "actions") -> Set[str]:
    return {
        name
        for path in actions_dir.rglob("*.py")
        for name in _RESPONSE_NAME.findall(path.read_text())
    }


class ActionAwareValidator(Validator):
    def _gather_utterance_actions(self) -> Set[str]:
        in_dialogues = {
            event.action_name
            for story in self.story_graph.story_steps
            for event in story.events
            if isinstance(event, ActionExecuted) and event.action_name
        }
        return super()._gather_utterance_actions() - (responses_uttered_by_actions() - in_dialogues)

    def verify_utterances_in_stories(self, ignore_warnings: bool = True) -> bool:
        missing = responses_uttered_by_actions() - set(self.domain.responses)
        for name in sorted(missing):
            rasa.shared.utils.io.raise_warning(
                f"A custom action utters '{name}', which the domain does not define."
            )
        return super().verify_utterances_in_stories(ignore_warnings) and not missing


def main() -> int:
    importer = TrainingDataImporter.load_from_config(
        config_path=str(ROOT / "config.yml"),
        domain_path=str(ROOT / "domain.yml"),
        training_data_paths=[str(ROOT / "data")],
    )
    validator = ActionAwareValidator.from_importer(importer)
    valid = all(
        [
            _validate_domain(validator),
            _validate_nlu(validator, fail_on_warnings=True),
            _validate_story_structure(validator, None, fail_on_warnings=True),
        ]
    )
    validator.warn_if_config_mandatory_keys_are_not_set()
    print("Project validation passed." if valid else "Project validation failed.")
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
