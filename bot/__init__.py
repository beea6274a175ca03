"""TrustGuard's shared core, in packages by role; imports point one way, never back:

- ``bot.cli`` and ``bot.launcher``: the operator's tools, which may use everything below;
- ``bot.meta``: everything that speaks Meta's APIs (Graph client, webhook payloads, send bodies,
  the inbox, OAuth, token refresh); it delivers into the shop domain;
- ``bot.shop``: the shop's own domain (shops, buyers, orders, codes, tokens, receipts, addresses,
  money, audit, profiles), which knows nothing of Meta;
- ``bot.platform``: what everything stands on (settings, database, models, migrations, secrets,
  logs, masking, shared patterns).

Nothing in this package imports ``rasa``: the action server runs in a slim rasa-sdk environment.
"""
