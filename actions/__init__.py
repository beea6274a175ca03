"""Custom actions for the Rasa action server, one module per capability.

They stay thin: they read who is talking from the tracker, let ``bot`` decide, and utter the
domain's responses. Nothing here imports ``rasa``.
"""
