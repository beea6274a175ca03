"""``python -m actions``: the action server on ACTIONS_HOST:ACTIONS_PORT (127.0.0.1:5055), with
JSON logs."""

import os

from actions.server import action_server_token, serve
from bot.platform.files import keep_new_files_private
from bot.platform.logs import configure_logging
from bot.platform.secrets import check_jwt_key
from bot.platform.settings import get_settings

# rasa_sdk imports every module of the package, this one included: only run when executed.
if __name__ == "__main__":
    keep_new_files_private()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    # Fail at start-up, not on a buyer's first message, if the configuration is wrong.
    get_settings()
    check_jwt_key()
    serve(action_server_token())
