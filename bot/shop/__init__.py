"""The shop's own domain: shops and their accounts, buyers, orders, one-time codes, buyer
tokens, receipts, delivery addresses, money, the audit trail and each shop's profile.

It speaks of shops, buyers and orders only: nothing here knows Meta's APIs (``bot.meta``) or the
operator's tools; it stands on ``bot.platform``.
"""
