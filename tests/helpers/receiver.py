"""A shop's system on loopback that receives its webhook's events: it answers each POST with the
next status of its plan (then 200), and records what it got and whether the signature held,
checked with the function the README gives receivers to copy."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.platform.settings import PROJECT_ROOT


def readme_verifier() -> Callable[..., bool]:
    """``verify_signature`` exactly as the README prints it."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    (code,) = [
        block for block in re.findall(r"```python\n(.*?)```", readme, re.S)
        if "def verify_signature" in block
    ]  # fmt: skip
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102  (the README's own code)
    return namespace["verify_signature"]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool
    status: int


class Receiver:
    def __init__(self, secret: Callable[[], str | None], plan: list[int]) -> None:
        self._secret = secret
        self._plan = list(plan)
        self._verify = readme_verifier()
        self._lock = threading.Lock()
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver._take(self, body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def _take(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        secret = self._secret() or ""
        header = handler.headers.get("X-TrustGuard-Signature", "")
        with self._lock:
            status = self._plan.pop(0) if self._plan else 200
            self.received.append(
                Received(
                    handler.path,
                    dict(handler.headers),
                    body,
                    self._verify(secret, header, body),
                    status,
                )
            )
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def __enter__(self) -> Receiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bodies(self) -> Iterator[bytes]:
        with self._lock:
            return iter([item.body for item in self.received])
