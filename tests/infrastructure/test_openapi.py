"""docs/openapi.yaml is a valid OpenAPI 3.1 document and describes the API that template.yaml deploys.

The deployed paths and methods are exactly the template's HttpApi routes, every operation answers what
the product says it answers, the local-only routes are marked as such, and every
example fits its own schema, so the document cannot quietly drift from the product.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from local.template import ROOT, http_routes

OPENAPI_PATH = ROOT / "docs" / "openapi.yaml"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
DOC_URI = "urn:delivery-otp:openapi"

STOREFRONT = {
    ("POST", "/deliveries"): {"200", "201", "400", "409", "413", "422"},
    ("GET", "/deliveries/{id}"): {"200", "404"},
    ("GET", "/deliveries/{id}/code"): {"200", "404", "410"},
    ("POST", "/deliveries/{id}/cancel"): {"200", "404", "409"},
    ("GET", "/deliveries/{id}/events"): {"200", "404"},
    ("PUT", "/deliveries/{id}/courier"): {"200", "404", "409", "413", "422"},
    # The customer's controls.
    ("POST", "/deliveries/{id}/code/resend"): {"200", "404", "410", "423", "429"},
    ("POST", "/deliveries/{id}/code/rotate"): {"200", "404", "410", "423"},
    ("PUT", "/deliveries/{id}/schedule"): {"200", "404", "409", "413", "422"},
    ("POST", "/deliveries/{id}/delegates"): {"201", "404", "409", "413", "422"},
    ("DELETE", "/deliveries/{id}/delegates/{delegate_id}"): {"200", "404"},
    ("GET", "/deliveries/{id}/receipt"): {"200", "404", "409"},
    ("DELETE", "/deliveries/{id}/personal-data"): {"200", "404", "409"},
    # Held parcels and returns.
    ("POST", "/deliveries/{id}/release"): {"200", "404", "409", "413", "422"},
    ("POST", "/deliveries/{id}/return"): {"200", "404", "409"},
    # Webhook endpoints.
    ("POST", "/webhooks"): {"201", "400", "409", "413", "422"},
    ("GET", "/webhooks"): {"200"},
    ("DELETE", "/webhooks/{id}"): {"200", "404"},
    ("POST", "/webhooks/{id}/secret/rotate"): {"200", "404", "422"},
    ("POST", "/webhooks/{id}/test"): {"202", "404"},
    ("GET", "/webhooks/{id}/deliveries"): {"200", "404"},
}
PUBLIC = {
    ("GET", "/.well-known/jwks.json"): {"200"},
    # The courier's web app: public files, it signs in from inside.
    ("GET", "/courier/"): {"200"},
    ("GET", "/courier/{asset}"): {"200", "404"},
    # The recipient's page: a dead link is 404, or 410 once its delivery is known to have ended.
    ("GET", "/r/{token}"): {"200", "404", "410"},
    ("POST", "/r/{token}"): {"200", "303", "403", "404", "410"},
    ("GET", "/pages/page.css"): {"200"},
}
COURIER = {
    ("POST", "/deliveries/{id}/verifications"): {"200", "400", "403", "404", "409", "410", "413", "422", "423", "429"},
    ("POST", "/deliveries/{id}/attempts"): {"200", "400", "403", "404", "409", "413", "422"},
    ("GET", "/deliveries/{id}/door"): {"200", "404"},
}
LOCAL = {
    ("GET", "/local/health"),
    ("GET", "/local/mailbox"),
    ("GET", "/local/bus"),
    ("PUT", "/local/clock"),
    ("DELETE", "/local/clock"),
    ("POST", "/local/schedules/run"),
    ("POST", "/local/invoke/{LogicalId}"),
    # The couriers' hosted sign-in, which the local stack serves itself.
    ("GET", "/oauth2/authorize"),
    ("POST", "/oauth2/authorize"),
    ("POST", "/oauth2/token"),
}
VERIFICATION_RESULTS = {
    "200": "ACCEPTED",
    "403": "REJECTED",
    "423": "LOCKED",
    "410": "EXPIRED",
    "409": "ALREADY_DELIVERED",
}
AUDIT_TYPES = [
    "REGISTERED",
    "CODE_ISSUED",
    "EMAIL_SENT",
    "VERIFICATION",
    "ATTEMPT_FAILED",
    "ROTATED",
    "LOCKED",
    "ON_HOLD",
    "CANCELLED",
    "DELIVERED",
    # Held parcels and returns.
    "RELEASED",
    "RETURNED",
]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    assert OPENAPI_PATH.is_file(), "docs/openapi.yaml is missing"
    with open(OPENAPI_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def _is_local(path: str) -> bool:
    from local.local_routes import LOCAL_PATHS

    return path == "/local" or path.startswith("/local/") or path in LOCAL_PATHS


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def _validator(doc: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A validator for the schema at `pointer` whose `$ref`s resolve against the whole document."""
    registry = Registry().with_resource(DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": DOC_URI + pointer}, registry=registry, format_checker=FormatChecker())


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references are expected: {ref}"
        node = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["components"]["schemas"][name]


# --------------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------------


def test_it_is_a_valid_openapi_3_1_document(doc):
    assert doc["openapi"].startswith("3.1.")
    try:
        validate(doc)
    except OpenAPIValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path)
        pytest.fail(f"docs/openapi.yaml is not valid OpenAPI 3.1 at {where}: {exc.message}", pytrace=False)


def test_every_operation_is_named_summarised_and_explained(doc):
    ids = []
    for (method, path), op in _operations(doc).items():
        for key in ("operationId", "summary", "description"):
            assert op.get(key, "").strip(), f"{method} {path} has no {key}"
        assert op.get("tags"), f"{method} {path} has no tag"
        ids.append(op["operationId"])
    assert len(ids) == len(set(ids)), "operationIds must be unique"


# --------------------------------------------------------------------------------------------------
# Routes: the template's, the contract's, and the local stack's
# --------------------------------------------------------------------------------------------------


def test_the_deployed_routes_are_exactly_the_templates_http_api_routes(doc):
    documented = {route for route in _operations(doc) if not _is_local(route[1])}
    deployed = {(method, path) for method, path, _function in http_routes()}
    assert documented == deployed


def test_the_deployed_routes_are_the_spec_routes(doc):
    documented = {route for route in _operations(doc) if not _is_local(route[1])}
    assert documented == set(STOREFRONT) | set(COURIER) | set(PUBLIC)


@pytest.mark.parametrize("route", sorted({**STOREFRONT, **COURIER, **PUBLIC}), ids=" ".join)
def test_each_operation_documents_the_answers_the_spec_gives(doc, route):
    expected = {**STOREFRONT, **COURIER, **PUBLIC}[route]
    responses = set(_operations(doc)[route]["responses"])
    assert expected <= responses, f"{route} misses {sorted(expected - responses)}"
    assert all(code.isdigit() and len(code) == 3 for code in responses)


def test_the_code_view_forbids_caching(doc):
    ok = _operations(doc)[("GET", "/deliveries/{id}/code")]["responses"]["200"]
    header = ok["headers"]["Cache-Control"]
    assert header["required"] is True
    assert header["schema"]["const"] == "no-store"


def test_local_only_routes_are_marked_and_open(doc):
    local = {route: op for route, op in _operations(doc).items() if _is_local(route[1])}
    assert set(local) == LOCAL
    for (method, path), op in local.items():
        assert op.get("x-local-only") is True, f"{method} {path} lacks x-local-only: true"
        assert op["tags"] == ["local-only"]
        assert op["security"] == []
        assert "never deployed" in op["description"]
    assert any(tag["name"] == "local-only" and "never deployed" in tag["description"] for tag in doc["tags"])
    deployed_paths = {path for _method, path, _function in http_routes()}
    assert not any(_is_local(path) for path in deployed_paths), "a local-only route is in template.yaml"


def test_storefront_routes_are_sigv4_and_courier_routes_carry_a_courier_jwt(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["sigv4"] == schemes["sigv4"] | {"type": "apiKey", "in": "header", "name": "Authorization"}
    assert schemes["courierJwt"] == schemes["courierJwt"] | {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    ops = _operations(doc)
    for route in STOREFRONT:
        assert ops[route]["security"] == [{"sigv4": []}], route
    for route in COURIER:
        assert ops[route]["security"] == [{"courierJwt": []}], route
    for route in PUBLIC:
        assert ops[route]["security"] == [], route  # no authentication, on purpose


# --------------------------------------------------------------------------------------------------
# Bodies
# --------------------------------------------------------------------------------------------------


def test_registration_requires_what_the_spec_requires_and_ignores_unknown_fields(doc):
    reg = _schema(doc, "Registration")
    props = reg["properties"]
    assert set(reg["required"]) == {
        "delivery_id",
        "order_id",
        "recipient",
        "destination",
        "order_value",
        "delivery_date",
    }
    assert props["recipient"]["required"] == ["email"]
    assert props["destination"]["required"] == ["country"]
    assert set(props["order_value"]["required"]) == {"amount", "currency"}
    assert reg.get("additionalProperties", True) is not False
    assert props["delivery_id"]["pattern"] == r"^(?!\.+$)[A-Za-z0-9._-]{1,64}$"  # not only dots
    assert props["order_value"]["properties"]["amount"]["type"] == "string"
    assert props["order_value"]["properties"]["amount"]["pattern"] == r"^(0|[1-9][0-9]*)(\.[0-9]{1,4})?$"
    assert props["order_value"]["properties"]["currency"]["pattern"] == "^[A-Z]{3}$"
    assert props["destination"]["properties"]["country"]["pattern"] == "^[A-Z]{2}$"
    assert props["delivery_date"]["format"] == "date"
    assert props["require_code"]["type"] == ["boolean", "null"]  # null counts as left out


def test_the_documented_patterns_are_the_ones_the_code_enforces(doc):
    from delivery_otp import geo, validation

    props = _schema(doc, "Registration")["properties"]
    assert props["delivery_id"]["pattern"] == f"^{validation.DELIVERY_ID.pattern}$"
    assert props["order_value"]["properties"]["amount"]["pattern"] == f"^{validation.AMOUNT.pattern}$"
    assert props["order_value"]["properties"]["currency"]["pattern"] == f"^{validation.CURRENCY.pattern}$"
    assert props["destination"]["properties"]["country"]["pattern"] == f"^{validation.COUNTRY.pattern}$"
    assert props["destination"]["properties"]["subdivision"]["pattern"] == f"^{geo.SUBDIVISION.pattern}$"
    outcomes = _schema(doc, "AttemptRequest")["properties"]["outcome"]["enum"]
    assert set(outcomes) == set(validation.ATTEMPT_OUTCOMES)


def test_delivery_body_is_the_spec_body(doc):
    delivery = _schema(doc, "Delivery")
    props = delivery["properties"]
    fields = {
        "delivery_id",
        "status",
        "code_required",
        "delivery_date",
        "code_valid_until",
        "issue_number",
        "wrong_attempts_left",
    }
    # The contract's fields, all always present; fields added later are documented and optional.
    assert set(delivery["required"]) == fields and fields <= set(props)
    assert set(props) - fields == {"courier_id", "email_undeliverable", "delegates", "personal_data_erased"}
    assert props["status"]["enum"] == [
        "SCHEDULED",
        "DELIVERED",
        "REQUEUED",
        "LOCKED",
        "ON_HOLD",
        "CANCELLED",
        "RETURNED",
    ]
    assert props["code_valid_until"]["type"] == ["string", "null"]
    assert props["code_valid_until"]["format"] == "date-time"
    assert props["wrong_attempts_left"]["type"] == ["integer", "null"]


def test_codes_are_six_ascii_digits(doc):
    code = _schema(doc, "Code")
    assert code["pattern"] == "^[0-9]{6}$"
    assert _schema(doc, "VerificationRequest")["required"] == ["code"]
    assert _schema(doc, "CurrentCode")["properties"]["code"] == {"$ref": "#/components/schemas/Code"}
    check = _validator(doc, _pointer("components", "schemas", "Code"))
    assert check.is_valid("012345")
    for bad in ["12345", "1234567", "12345a", "١٢٣٤٥٦", 123456]:
        assert not check.is_valid(bad), bad


def test_audit_events_are_the_spec_events_and_stay_open_to_new_types(doc):
    event = _schema(doc, "AuditEvent")
    assert event.get("additionalProperties", True) is not False
    known = [branch["enum"] for branch in event["properties"]["type"]["anyOf"] if "enum" in branch]
    assert known == [AUDIT_TYPES]
    assert event["properties"]["actor"]["properties"]["kind"]["enum"] == [
        "storefront",
        "courier",
        "scheduler",
        "system",
        "recipient",
        "delegate",
    ]
    # The storefront's actions name the IAM principal that signed them; nobody else has one.
    assert event["properties"]["actor"]["properties"]["principal"]["type"] == ["string", "null"]
    check = _validator(doc, _pointer("components", "schemas", "AuditEvent"))
    newer = {"type": "DELEGATE_ADDED", "at": "2026-11-23T09:00:00+01:00", "issue_number": None, "outcome": None}
    newer["actor"] = {"kind": "storefront", "courier_id": None, "device_id": None}
    assert check.is_valid(newer | {"delegate_id": "dl-1"})


@pytest.mark.parametrize(("status", "result"), sorted(VERIFICATION_RESULTS.items()))
def test_each_verification_answer_carries_its_result(doc, status, result):
    path = ("paths", "/deliveries/{id}/verifications", "post", "responses", status, "content", "application/json")
    check = _validator(doc, _pointer(*path, "schema"))
    example = _resolve(doc, doc["paths"]["/deliveries/{id}/verifications"]["post"]["responses"][status])
    body = example["content"]["application/json"]["example"]
    assert body["result"] == result, f"the {status} example is not {result}"
    check.validate(body)
    others = set(VERIFICATION_RESULTS.values()) - {result}
    for other in others:
        assert not check.is_valid(body | {"result": other}), f"{status} must not accept {other}"
    if status == "403":
        # 403 is also the answer for a courier_id that is not the token's (an error without result);
        # a REJECTED answer must still say how many attempts are left.
        assert not check.is_valid({k: v for k, v in body.items() if k != "wrong_attempts_left"})
        assert "error" in body
    elif status != "200":
        assert not check.is_valid({k: v for k, v in body.items() if k != "result"}), "result is required"
        assert "error" in body


def test_a_body_over_the_limit_is_413_payload_too_large(doc):
    from delivery_otp.errors import PayloadTooLarge
    from delivery_otp.validation import MAX_BODY_BYTES

    for route, op in _operations(doc).items():
        if "requestBody" in op and not _is_local(route[1]):
            assert "413" in op["responses"], f"{route} takes a body but documents no 413"
    too_large = _resolve(doc, doc["components"]["responses"]["PayloadTooLarge"])
    assert too_large["content"]["application/json"]["example"]["error"]["code"] == PayloadTooLarge.code
    assert f"{MAX_BODY_BYTES:,}" in too_large["description"]


def test_the_delivery_id_pattern_refuses_ids_made_only_of_dots(doc):
    check = _validator(doc, _pointer("components", "schemas", "Registration", "properties", "delivery_id"))
    for good in ["IT-000123", "a.", ".a", "..a", "x" * 64]:
        assert check.is_valid(good), good
    for bad in [".", "..", "." * 64, "", "x" * 65, "IT/1"]:
        assert not check.is_valid(bad), bad


def test_errors_are_one_shape(doc):
    error = _schema(doc, "Error")
    assert error["required"] == ["error"]
    assert set(_schema(doc, "ErrorDetail")["required"]) == {"code", "message"}


# --------------------------------------------------------------------------------------------------
# Examples fit their schemas
# --------------------------------------------------------------------------------------------------


def _media_examples(doc: dict[str, Any]):
    """(pointer to schema, example value, where) for every example of every request and response body."""
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            bodies = []
            if "requestBody" in op:
                bodies.append((("paths", path, method, "requestBody"), _resolve(doc, op["requestBody"])))
            for status, response in op["responses"].items():
                resolved = _resolve(doc, response)
                if response is resolved:
                    bodies.append((("paths", path, method, "responses", status), resolved))
                else:
                    bodies.append((tuple(response["$ref"][2:].split("/")), resolved))
            for base, body in bodies:
                for media_type, media in body.get("content", {}).items():
                    if "schema" not in media:
                        continue
                    pointer = _pointer(*base, "content", media_type, "schema")
                    where = f"{method.upper()} {path} {'/'.join(base[3:])}"
                    if "example" in media:
                        yield pointer, media["example"], where
                    for name, example in media.get("examples", {}).items():
                        yield pointer, _resolve(doc, example)["value"], f"{where} ({name})"


def test_every_example_fits_its_schema(doc):
    checked = 0
    for pointer, example, where in _media_examples(doc):
        errors = sorted(_validator(doc, pointer).iter_errors(example), key=str)
        assert not errors, f"{where}: {errors[0].message}"
        checked += 1
    assert checked >= 25


def test_the_registration_example_is_the_spec_example(doc):
    request = doc["paths"]["/deliveries"]["post"]["requestBody"]["content"]["application/json"]
    example = request["examples"]["valuable"]["value"]
    assert example["delivery_id"] == "IT-000123"
    assert example["order_value"] == {"amount": "349.90", "currency": "EUR"}
    assert example["destination"]["timezone"] == "Europe/Rome"
    assert example["delivery_date"] == "2026-11-23"
    check = _validator(doc, _pointer("components", "schemas", "Registration"))
    assert not check.is_valid(example | {"order_value": {"amount": 349.9, "currency": "EUR"}}), "a number is refused"
    assert check.is_valid(example | {"gift_wrap": True}), "unknown fields are ignored"


def test_what_we_send_to_webhooks_is_described_as_openapi_webhooks(doc):
    (item,) = doc["webhooks"].values()
    headers = {p["name"] for p in item["post"]["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    event = _schema(doc, "CloudEvent")
    assert {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"} <= set(
        event["required"]
    )


def test_the_subscribable_event_types_are_the_ones_the_code_accepts(doc):
    from delivery_otp.webhooks import EVENT_TYPES

    listed = _schema(doc, "WebhookRegistration")["properties"]["event_types"]["items"]["enum"]
    assert set(listed) == EVENT_TYPES


def test_the_readme_points_at_this_file():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/openapi.yaml" in readme


def test_no_key_is_defined_twice():
    """YAML keeps the last of two equal keys without a word: a second definition would silently win."""

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        keys = [loader.construct_object(key) for key, _ in node.value]
        twice = sorted({str(k) for k in keys if keys.count(k) > 1})
        assert not twice, f"defined twice at line {node.start_mark.line + 1}: {twice}"
        return loader.construct_mapping(node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    yaml.load(OPENAPI_PATH.read_text(encoding="utf-8"), Loader=Strict)
