"""What every other layer stands on: settings, the database and its models and migrations, the
secrets layer, structured logs, masking and the patterns several layers must agree on.

Nothing here imports ``bot.shop``, ``bot.meta`` or ``bot.cli``.
"""
