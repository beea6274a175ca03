"""Code that runs inside the Rasa server: channels and stores. It may import ``rasa``.

Rasa imports this package for the channels, the response generator and the tracker store that
``credentials.yml`` and ``endpoints.yml`` name, so every process serving them redacts every log
record it makes (``bot.platform.logs.install_redaction``). Importing a channel loads no model
code: the acknowledging endpoint (``connectors.ingest``) mounts the channels without it.
"""

from bot.platform.logs import install_redaction

install_redaction()
