"""``python -m actions``: the action server on ACTIONS_PORT (5055), with JSON logs."""

import os

from rasa_sdk.endpoint import run

from bot.platform.logs import configure_logging
from bot.platform.secrets import check_jwt_key
from bot.platform.settings import get_settings

# rasa_sdk imports every module of the package, this one included: only run when executed.
if __name__ == "__main__":
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    # Fail at start-up, not on a buyer's first message, if the configuration is wrong.
    get_settings()
    check_jwt_key()
    run("actions", port=int(os.environ.get("ACTIONS_PORT", "5055")), cors_origins=None)
