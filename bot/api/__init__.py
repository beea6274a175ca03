"""The shops' own systems' edge: an HTTP API (``python -m bot.api``, loopback, ``API_PORT``)
for a shop's storefront, spreadsheet or POS, with keys per shop, and the worker that delivers
the shop's events to its webhook and the notifications to buyers and owners.

It stands on ``bot.meta`` and ``bot.shop``; nothing below imports it, and it never imports Rasa.
"""
