"""Code that runs inside the Rasa server: channels and stores. It may import ``rasa``.

Rasa imports this package for the channels, the response generator and the tracker store that
``credentials.yml`` and ``endpoints.yml`` name, so every Rasa server of the project checks action
server responses with a validator built once (see ``connectors.action_responses``).
"""

from connectors import action_responses

action_responses.install()
