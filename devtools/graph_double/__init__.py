"""A stand-in for Meta's Graph API, served over real HTTP on loopback, that records every send.

Tests and developers point the WhatsApp and Instagram channels at it instead of
graph.facebook.com: sends are answered the way Meta answers them, failures can be queued on
demand, media can be registered for download, and ``GET /__sent`` shows what the assistant said
and to whom, by number or business-scoped user id (``messaging``). It also plays the OAuth side
of connecting a shop: the login dialogs send the owner back with a code for what
``authorize_next`` says they share (or their refusal), and codes (those, or any registered with
``add_oauth_code``) are exchanged for tokens that ``debug_token``, ``/{waba}/phone_numbers`` and
``/me`` then describe, each call recorded in ``oauth_calls`` without codes or tokens
(``oauth``), through Facebook Login (``facebook_login``) or, for an Instagram account alone,
Instagram Login (``instagram_login``). ``server`` joins the parts into ``GraphDouble`` and runs it
in a thread as ``GraphDoubleThread``; ``cli`` is ``python -m devtools.graph_double [--host H]
[--port N]``.

Everything other code uses is importable from here.
"""

from devtools.graph_double.cli import main, send_line, serve
from devtools.graph_double.core import DEFAULT_HOST, DEFAULT_PORT, Record, mask, meta_error
from devtools.graph_double.messaging import describe, is_bsuid, recipient_of
from devtools.graph_double.oauth import (
    FACEBOOK_USER_ID,
    INSTAGRAM_PERMISSIONS,
    INSTAGRAM_TOKEN_PREFIX,
    TOKEN_EXPIRES_IN,
)
from devtools.graph_double.server import GraphDouble, GraphDoubleThread

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "FACEBOOK_USER_ID",
    "INSTAGRAM_PERMISSIONS",
    "INSTAGRAM_TOKEN_PREFIX",
    "TOKEN_EXPIRES_IN",
    "GraphDouble",
    "GraphDoubleThread",
    "Record",
    "describe",
    "is_bsuid",
    "main",
    "mask",
    "meta_error",
    "recipient_of",
    "send_line",
    "serve",
]
