"""Property-based tests of the running API against its own OpenAPI document (schemathesis):
for requests generated from the document, valid or not, the API never answers 5xx, answers only
the statuses it documents, with the content type and the body schema it documents.

The API process here delivers nothing: its worker's first round finds nothing due and the next
is a day away, so no generated webhook URL is ever called (nothing leaves this machine).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from devtools.ports import free_port
from tests.api.conftest import Api, new_key, new_shop, start_api, stop_api

pytestmark = pytest.mark.e2e
# Examples per operation: about a minute for the whole document.
EXAMPLES = 40
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)


@pytest.fixture(scope="module")
def quiet_api(api_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = {**api_env, "OUTBOX_POLL_SECONDS": "86000", "GRAPH_API_URL": nowhere}
    running = start_api(env, tmp_path_factory.mktemp("fuzz") / "api.log")
    yield running
    stop_api(running)


@pytest.fixture(scope="module")
def fuzz_key(quiet_api: Api, api_database: str) -> str:
    return new_key(new_shop())


@pytest.fixture(scope="module")
def api_schema(quiet_api: Api) -> schemathesis.specs.openapi.schemas.BaseOpenAPISchema:
    return schemathesis.from_uri(f"{quiet_api.url}/api/v1/openapi.json")


schema = schemathesis.from_pytest_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_keeps_its_document(case: schemathesis.Case, fuzz_key: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {fuzz_key}"}, timeout=15)
    case.validate_response(response, checks=CHECKS)
