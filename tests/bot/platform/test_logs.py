"""Logs are one JSON object per line, with codes and phone numbers masked."""

import io
import json
import logging

import pytest
import sqlalchemy as sa

from bot.platform import db
from bot.platform.logs import configure_logging, install_redaction
from bot.shop.codes import generate_code

PHONE = "2348012345678"


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines_of(captured):
    return [line for line in captured.err.splitlines() if line.strip()]


def test_log_lines_are_json_without_codes_or_full_numbers(capsys, restore_root_logger):
    configure_logging("INFO")
    code = generate_code()
    logging.getLogger("bot.test").info(
        "sent code %s to +234 801 234 5678", code, extra={"phone": PHONE, "shop_id": "mama-put"}
    )
    logging.getLogger("bot.test").warning("buyer %s typed a wrong code", PHONE)

    lines = lines_of(capsys.readouterr())
    assert len(lines) == 2
    entries = [json.loads(line) for line in lines]
    for line in lines:
        assert code not in line
        assert code.lower() not in line
        assert PHONE not in line
        assert "801 234" not in line
        assert "5678" in line

    first, second = entries
    assert first["level"] == "INFO"
    assert first["logger"] == "bot.test"
    assert first["phone"] == "***5678"
    assert first["shop_id"] == "mama-put"
    assert first["message"].startswith("sent code ")
    assert first["message"].endswith(" to ***5678")
    assert second["level"] == "WARNING"
    assert second["message"] == "buyer ***5678 typed a wrong code"


def test_level_filters_lower_records(capsys, restore_root_logger):
    configure_logging("WARNING")
    logging.getLogger("bot.test").info("not shown")
    logging.getLogger("bot.test").error("shown")
    entries = [json.loads(line) for line in lines_of(capsys.readouterr())]
    assert [e["message"] for e in entries] == ["shown"]


def test_exceptions_are_logged_as_a_field_on_one_line(capsys, restore_root_logger):
    configure_logging("INFO")
    code = generate_code()
    try:
        raise ValueError(f"bad code {code} for {PHONE}")
    except ValueError:
        logging.getLogger("bot.test").exception("verification crashed")
    (line,) = lines_of(capsys.readouterr())
    entry = json.loads(line)
    assert "ValueError" in entry["exception"]
    assert code not in line
    assert PHONE not in line


def test_configure_logging_replaces_earlier_handlers(capsys, restore_root_logger):
    configure_logging("INFO")
    configure_logging("INFO")
    logging.getLogger("bot.test").info("once")
    assert len(lines_of(capsys.readouterr())) == 1


def test_every_record_of_the_process_is_redacted_whoever_formats_it():
    """Rasa's and Sanic's loggers have handlers and formatters of their own: the record itself
    is redacted when it is made, message, arguments and traceback."""
    install_redaction()
    install_redaction()  # once is enough; twice changes nothing
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    other = logging.getLogger("rasa.core.processor.test")
    other.addHandler(handler)
    other.setLevel(logging.DEBUG)
    other.propagate = False
    code = generate_code()
    try:
        other.debug("Received user message '%s' from +%s", f"verify {code}", PHONE)
        try:
            raise ValueError(f"could not store {code} for {PHONE}")
        except ValueError:
            other.exception("failed")
    finally:
        other.removeHandler(handler)
    written = stream.getvalue()
    assert code not in written and PHONE not in written
    assert "***5678" in written and "ValueError: could not store [redacted]" in written


def test_a_failed_statement_does_not_show_its_parameters(database_url):
    code = generate_code()
    engine = db.engine_for(database_url)
    with pytest.raises(sa.exc.SQLAlchemyError) as raised, engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO no_such_table VALUES (:code)"), {"code": code})
    assert code not in str(raised.value)


def test_the_tracker_store_does_not_show_its_parameters(tmp_path):
    from connectors.tracker_store import RedactingSQLTrackerStore

    store = RedactingSQLTrackerStore(dialect="sqlite", db=str(tmp_path / "tracker.db"))
    assert store.engine.hide_parameters
