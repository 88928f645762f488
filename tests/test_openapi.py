"""schemathesis against the app's own OpenAPI document, over HTTP as `veil serve` answers it
(the session world swept, a regulator's key): generated requests to every operation, a
bounded number each, must never get a 5xx, and every answer, errors included, must match
the document (status, content type, schema)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service import keys
from service.api.common import KEY_HEADER
from service.keys import Role

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

#: Generated cases per operation: enough to reach each parameter's edges, few enough to
#: keep the module near a minute.
EXAMPLES = 25


@pytest.fixture(scope="module")
def api_schema(served_api: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{served_api}/openapi.json")


@pytest.fixture(scope="module")
def regulator_key() -> str:
    return keys.create(Role.REGULATOR, "schemathesis")[1]


def test_no_5xx_and_answers_match_the_document(
    api_schema: schemathesis.BaseSchema, regulator_key: str
) -> None:
    """Each operation in turn, its cases drawn by Hypothesis from schemathesis' strategy
    (not schemathesis' pytest plugin: its lazy fixture does not run on pytest 9)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 5, [op.label for op in operations]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def answers(case: schemathesis.Case) -> None:
            response = case.call(headers={KEY_HEADER: regulator_key}, timeout=30)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
            )
            case.validate_response(
                response,
                checks=[
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
            )

        answers()
