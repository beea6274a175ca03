"""TrustGuard's shared core: everything the action server and the admin CLI have in common.

Nothing in this package imports ``rasa``: the action server runs in a slim rasa-sdk environment.
"""
