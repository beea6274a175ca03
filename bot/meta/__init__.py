"""Everything that speaks Meta's APIs: the Graph API client and its errors, typed webhook
payloads and their signatures, send bodies within Meta's limits, the durable inbox, OAuth with
Facebook and Instagram Login, and keeping shops' tokens alive.

It delivers into the shop domain (``bot.shop``) and stands on ``bot.platform``; the Rasa side of
the channels lives in ``connectors.meta``.
"""
