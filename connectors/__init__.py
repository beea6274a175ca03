"""Code that runs inside the Rasa server: channels and stores. It may import ``rasa``.

Rasa imports this package for the channels, the response generator and the tracker store that
``credentials.yml`` and ``endpoints.yml`` name, so every Rasa server of the project checks action
server responses with a validator built once (see ``connectors.action_responses``) and redacts
every log record it makes (``bot.platform.logs.install_redaction``).
"""

from bot.platform.logs import install_redaction
from connectors import action_responses

action_responses.install()
install_redaction()
