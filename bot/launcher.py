"""``python -m bot.launcher``: start the action server, the Rasa server and the shops' API
together (make run).

All listen on loopback; Ctrl-C stops them newest first: Rasa, the API, then the action server.
``--shell`` runs ``rasa shell`` instead of the Rasa server and the API, for talking to the
assistant in the terminal.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from bot.platform.files import keep_new_files_private
from bot.platform.logs import install_redaction
from bot.platform.readiness import NotReady, wait_until_ready
from bot.platform.secrets import check_jwt_key
from bot.platform.settings import PROJECT_ROOT, ConfigurationError, get_settings, load_dotenv

VENV_BIN = Path(sys.executable).parent
MODELS = PROJECT_ROOT / "models"
# Rasa's channels take up to a minute to finish the turns in flight when stopped.
STOP_TIMEOUT = 75
PR_SET_PDEATHSIG = 1
# Meta's webhooks are far smaller; so is anything a buyer can type.
MAX_REQUEST_BYTES = 3 * 1024 * 1024


def child_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The servers' environment: ``base`` (this process's by default) with what it leaves unset."""
    env = dict(os.environ if base is None else base)
    env.setdefault("RASA_PORT", "5005")
    env.setdefault("ACTIONS_PORT", "5055")
    env.setdefault("API_PORT", "5080")
    env.setdefault("ACTION_ENDPOINT_URL", f"http://127.0.0.1:{env['ACTIONS_PORT']}/webhook")
    env.setdefault("TRACKER_STORE_URL", f"sqlite:///{PROJECT_ROOT / 'var' / 'tracker.db'}")
    env.setdefault("SANIC_HOST", "127.0.0.1")
    # Sanic refuses larger bodies before buffering them (its default is 100 MB).
    env.setdefault("SANIC_REQUEST_MAX_SIZE", str(MAX_REQUEST_BYTES))
    # Shared by the two servers this launcher starts; the action server refuses calls without it.
    env.setdefault("ACTION_SERVER_TOKEN", secrets.token_urlsafe(32))
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def rasa_server_command(
    model: Path,
    env: dict[str, str],
    *,
    endpoints: str = "endpoints.yml",
    credentials: str = "credentials.yml",
    http_api: bool = True,
) -> list[str]:
    """``rasa run`` as ``make run`` starts it (the pipeline benchmark starts the same); a turn
    server of ``make cluster`` names its own files and has no HTTP API."""
    command = [
        str(VENV_BIN / "rasa"),
        "run",
        "--model",
        str(model),
        "--endpoints",
        endpoints,
        "--credentials",
        credentials,
        "--interface",
        "127.0.0.1",
        "--port",
        env["RASA_PORT"],
    ]
    if http_api:
        # Joined with "=": a random token may start with "-", which argparse takes for an option.
        command += ["--enable-api", f"--auth-token={env.get('RASA_API_TOKEN', '')}"]
    return command


def stop(processes: list[subprocess.Popen]) -> None:
    """Newest first, each to the end: Rasa finishes the turns in flight (up to a minute), which
    call the action server, before the action server is asked to stop."""
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _stop_with_launcher() -> None:
    """Run in the action server's process before it starts: it has a session of its own, so if
    the launcher is killed outright, the kernel stops it rather than leave it running."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (a service manager stopping us) unwinds like Ctrl-C: every server is stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.launcher")
    parser.add_argument("--shell", action="store_true", help="rasa shell instead of the server")
    args = parser.parse_args(argv)
    # Started in the background by a shell, a process ignores SIGINT unless it says otherwise.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    keep_new_files_private()  # the servers started below inherit it
    install_redaction()

    load_dotenv()
    try:
        get_settings()
        check_jwt_key()
    except ConfigurationError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 1
    env = child_environment()
    (PROJECT_ROOT / "var").mkdir(exist_ok=True)

    # In the terminal chat, the action server's log lines would mix with the conversation.
    action_log = (PROJECT_ROOT / "var" / "actions.log").open("ab") if args.shell else None  # noqa: SIM115  (closed in finally)
    # In a session of its own, so Ctrl-C in the terminal reaches Rasa and this launcher but not
    # the action server: it is stopped last, once Rasa has finished the turns that call it.
    actions = subprocess.Popen(
        [sys.executable, "-m", "actions"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=action_log,
        stderr=action_log,
        start_new_session=True,
        preexec_fn=_stop_with_launcher,
    )
    processes = [actions]
    try:
        wait_until_ready(
            f"http://127.0.0.1:{env['ACTIONS_PORT']}/health", actions, 60, what="the action server"
        )
        if args.shell:
            print("The action server logs to var/actions.log.", flush=True)
            shell = subprocess.run(
                [
                    str(VENV_BIN / "rasa"),
                    "shell",
                    "--model",
                    str(MODELS),
                    "--endpoints",
                    "endpoints.yml",
                    "--interface",
                    "127.0.0.1",
                    "--port",
                    env["RASA_PORT"],
                ],
                cwd=PROJECT_ROOT,
                env=env,
            )
            return shell.returncode
        # Before Rasa, so that it is stopped after Rasa: it delivers what the last turns queued.
        api = subprocess.Popen([sys.executable, "-m", "bot.api"], cwd=PROJECT_ROOT, env=env)
        processes.append(api)
        api_url = f"http://127.0.0.1:{env['API_PORT']}/api/v1"
        wait_until_ready(f"{api_url}/openapi.json", api, 60, what="the shops' API")
        server = subprocess.Popen(rasa_server_command(MODELS, env), cwd=PROJECT_ROOT, env=env)
        processes.append(server)
        wait_until_ready(
            f"http://127.0.0.1:{env['RASA_PORT']}/", server, 300, what="the Rasa server"
        )
        port = env["RASA_PORT"]
        shop = get_settings().default_shop
        print(
            f"\nTrustGuard Assistant is running (shop {shop!r}).\n"
            f"  Rasa server:   http://127.0.0.1:{port}  (REST channel and HTTP API)\n"
            f"  Action server: http://127.0.0.1:{env['ACTIONS_PORT']}\n"
            f"  Shops' API:    {api_url}  (keys: python -m bot apikey create --shop {shop})\n"
            "Talk to it:\n"
            f"  curl -s localhost:{port}/webhooks/rest/webhook -H 'Content-Type: application/json' "
            '-d \'{"sender": "ada", "message": "hi"}\'\n'
            "or run `make shell` in another terminal (stop this one first: both use the same ports"
            " unless RASA_PORT/ACTIONS_PORT/API_PORT differ). Ctrl-C stops them all.\n",
            flush=True,
        )
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    except NotReady as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if any(process.poll() is None for process in processes):
            print(
                "Stopping: the Rasa server finishes the conversations in progress, the API its "
                "deliveries, then the action server stops.",
                file=sys.stderr,
                flush=True,
            )
        stop(processes)
        if action_log:
            action_log.close()


if __name__ == "__main__":
    raise SystemExit(main())
