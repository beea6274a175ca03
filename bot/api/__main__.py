"""``python -m bot.api``: the shops' API on 127.0.0.1:API_PORT (5080), with JSON logs, and its
worker delivering events and notifications."""

import os

from bot.api.app import create_app
from bot.platform.files import keep_new_files_private
from bot.platform.logs import configure_logging
from bot.platform.settings import get_settings

if __name__ == "__main__":
    keep_new_files_private()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    settings = get_settings()
    create_app().run("127.0.0.1", settings.api_port, access_log=False)
