"""Stopping the servers the launcher started: Rasa first, to the end, then the action server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bot.launcher import stop

# Waits for SIGINT, takes a moment to finish (as Rasa finishing its turns does), notes when done.
SERVER = """
import signal, sys, time
from pathlib import Path
log = Path(sys.argv[1])
def finish(*_):
    log.open("a").write(f"{sys.argv[2]} interrupted\\n")
    time.sleep(float(sys.argv[3]))
    log.open("a").write(f"{sys.argv[2]} stopped\\n")
    sys.exit(0)
signal.signal(signal.SIGINT, finish)
log.open("a").write(f"{sys.argv[2]} ready\\n")
while True:
    time.sleep(0.1)
"""


def start(log: Path, name: str, finishing: float) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(log), name, str(finishing)])
    while f"{name} ready" not in (log.read_text() if log.exists() else ""):
        assert process.poll() is None
        time.sleep(0.01)
    return process


def lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if not line.endswith("ready")]


def test_rasa_finishes_before_the_action_server_is_interrupted(tmp_path: Path) -> None:
    log = tmp_path / "log"
    actions = start(log, "actions", 0.0)
    rasa = start(log, "rasa", 0.5)
    stop([actions, rasa])
    assert lines(log) == [
        "rasa interrupted",
        "rasa stopped",
        "actions interrupted",
        "actions stopped",
    ]
    assert (actions.returncode, rasa.returncode) == (0, 0)


def test_a_server_that_already_exited_is_skipped(tmp_path: Path) -> None:
    log = tmp_path / "log"
    actions = start(log, "actions", 0.0)
    rasa = start(log, "rasa", 0.0)
    rasa.kill()
    rasa.wait()
    stop([actions, rasa])
    assert lines(log) == ["actions interrupted", "actions stopped"]


# Starts a server the way the launcher starts the action server, prints its pid, then waits.
LAUNCHER = """
import subprocess, sys, time
from bot.launcher import _stop_with_launcher
server = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(60)"],
    start_new_session=True,
    preexec_fn=_stop_with_launcher,
)
print(server.pid, flush=True)
time.sleep(60)
"""


def test_the_action_server_stops_when_the_launcher_is_killed_outright() -> None:
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdout=subprocess.PIPE, text=True)
    server_pid = int(launcher.stdout.readline())
    launcher.kill()
    launcher.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{server_pid}").exists() and "Z" not in _state(server_pid):
        assert time.monotonic() < deadline, "the action server outlived the launcher"
        time.sleep(0.05)


def _state(pid: int) -> str:
    """The process state letter (Z: exited, waiting for init to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "Z"
