"""The one readiness poll, against a real HTTP server on loopback and real processes."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from bot.platform.readiness import NotReady, answers, main, wait_until_ready
from devtools.ports import free_port


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/health" else 503
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Ok)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_server_that_answers_is_ready(server: str) -> None:
    assert answers(f"{server}/health")
    assert wait_until_ready(f"{server}/health", None, 5) < 5


def test_an_error_status_is_not_ready(server: str) -> None:
    assert not answers(f"{server}/starting")
    with pytest.raises(NotReady, match="the model server was not ready after 1 s"):
        wait_until_ready(f"{server}/starting", None, 1, what="the model server", poll=0.1)


def test_nothing_listening_is_not_ready() -> None:
    assert not answers(f"http://127.0.0.1:{free_port()}/")


def test_a_process_that_exits_stops_the_wait_with_its_status() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    with pytest.raises(NotReady, match="the launcher exited with status 3"):
        wait_until_ready(f"http://127.0.0.1:{free_port()}/", process, 30, what="the launcher")


def test_the_command_line_waits_for_a_pid(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    """What scripts/chat-whatsapp runs: 0 once the server answers, 1 once the process is gone."""
    assert main([f"{server}/health", "--timeout", "5"]) == 0
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    url = f"http://127.0.0.1:{free_port()}/"
    assert main([url, "--pid", str(gone.pid), "--what", "the assistant"]) == 1
    assert "the assistant exited" in capsys.readouterr().err
