"""The Rasa side of Meta's channels, one module per job: ``signature`` (is a webhook Meta's),
``output`` (replies through the Graph API), ``turns`` (one turn loop for every channel of the
process) and ``input`` (the webhook routes). ``connectors.whatsapp`` and ``connectors.instagram``
are the channels ``credentials.yml`` names."""
