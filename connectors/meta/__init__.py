"""The Rasa side of Meta's channels, one module per job: ``input`` (the webhook routes, which
check signatures with ``bot.meta.signature`` and store into ``bot.meta.inbox``), ``turns`` (one
turn loop for every channel of the process) and ``output`` (replies through the Graph API).
``connectors.whatsapp`` and ``connectors.instagram`` are the channels ``credentials.yml`` names."""
