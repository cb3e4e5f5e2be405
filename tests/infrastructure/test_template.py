"""What `sam validate --lint` and cfn-lint cannot know about template.yaml: that it matches the product.

The table matches the pynamodb model, the routes are the HTTP API's, every role allows only
what its function does, the rotation schedule is a schedule EventBridge Scheduler accepts and that runs
often enough, failures land in dead-letter queues, and the sample events in events/ fit the template.
"""

from __future__ import annotations

import json
import re
import tomllib
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from local.template import ROOT, functions, http_routes, resources, template

EVENTS_DIR = ROOT / "events"

SPEC_ROUTES = {
    ("POST", "/deliveries"),
    ("GET", "/deliveries/{id}"),
    ("GET", "/deliveries/{id}/code"),
    ("POST", "/deliveries/{id}/cancel"),
    ("GET", "/deliveries/{id}/events"),
    ("POST", "/deliveries/{id}/verifications"),
    ("POST", "/deliveries/{id}/attempts"),
    ("GET", "/deliveries/{id}/door"),
    # The courier's web app (public files; it signs in from inside).
    ("GET", "/courier/"),
    ("GET", "/courier/{asset}"),
    ("PUT", "/deliveries/{id}/courier"),
    ("POST", "/deliveries/{id}/code/resend"),
    ("POST", "/deliveries/{id}/code/rotate"),
    ("PUT", "/deliveries/{id}/schedule"),
    ("POST", "/deliveries/{id}/delegates"),
    ("DELETE", "/deliveries/{id}/delegates/{delegate_id}"),
    ("GET", "/deliveries/{id}/receipt"),
    ("DELETE", "/deliveries/{id}/personal-data"),
    ("GET", "/.well-known/jwks.json"),
    ("POST", "/deliveries/{id}/release"),
    ("POST", "/deliveries/{id}/return"),
    ("POST", "/webhooks"),
    ("GET", "/webhooks"),
    ("DELETE", "/webhooks/{id}"),
    ("POST", "/webhooks/{id}/secret/rotate"),
    ("POST", "/webhooks/{id}/test"),
    ("GET", "/webhooks/{id}/deliveries"),
    ("GET", "/r/{token}"),
    ("POST", "/r/{token}"),
    ("GET", "/pages/page.css"),
}
# Open to anyone on purpose: the key that checks receipts; the courier's web app (it signs in from inside);
# the recipient's page (its link's token is the key) and its stylesheet.
PAGE_ROUTES = {("GET", "/r/{token}"), ("POST", "/r/{token}"), ("GET", "/pages/page.css")}
PUBLIC_ROUTES = {("GET", "/.well-known/jwks.json"), ("GET", "/courier/"), ("GET", "/courier/{asset}"), *PAGE_ROUTES}
STOREFRONT_ROUTES = {
    r for r in SPEC_ROUTES if not r[1].endswith(("/verifications", "/attempts", "/door")) and r not in PUBLIC_ROUTES
}
COURIER_ROUTES = SPEC_ROUTES - STOREFRONT_ROUTES - PUBLIC_ROUTES
# Idempotency-Key records (Powertools) are put, completed and, on failure, deleted by every POST route.
IDEMPOTENCY = {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}

# Everything each function's role may do, beyond what SAM adds for logs, X-Ray, the stream and the
# on-failure destinations. Widening a role is a deliberate change: it shows up here.
ALLOWED_ACTIONS = {
    "RegisterFunction": IDEMPOTENCY | {"secretsmanager:GetSecretValue"},
    # sqs:SendMessage: a webhook.test message straight onto the webhook delivery queue.
    "StorefrontFunction": IDEMPOTENCY | {"secretsmanager:GetSecretValue", "sqs:SendMessage"},
    # Reads the endpoints (one item) and queues one message per (event, endpoint).
    "WebhookFanoutFunction": {"dynamodb:GetItem", "sqs:SendMessage"},
    # The endpoint, its attempt log, a waiting retry; the key to sign with; the dead letters.
    "WebhookDispatchFunction": {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "secretsmanager:GetSecretValue",
        "sqs:SendMessage",
    },
    # Due retries from the due index, read, queued and forgotten.
    "WebhookRetryFunction": {"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DeleteItem", "sqs:SendMessage"},
    "VerifyFunction": IDEMPOTENCY | {"dynamodb:ConditionCheckItem", "secretsmanager:GetSecretValue"},
    "AttemptFunction": IDEMPOTENCY | {"secretsmanager:GetSecretValue"},
    # Serves files and a page from its own package: no AWS call at all.
    "CourierAppFunction": set(),
    "RotationFunction": {"sqs:SendMessage"},
    # Reads due items whole and writes them back (puts conditioned on their rev), never updates in place;
    # deletes by key the stored idempotency answers of a delivery whose personal data it erases.
    "RotationWorkerFunction": {
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "secretsmanager:GetSecretValue",
    },
    # Marks the delivery and puts the address's suppression item (keyed by a MAC under a key derived
    # from the code key); never derives codes or sends mail.
    "BounceFunction": {"dynamodb:UpdateItem", "dynamodb:PutItem", "secretsmanager:GetSecretValue"},
    "EmailFunction": {
        "dynamodb:BatchGetItem",  # the deliveries and their addresses' suppression items
        "dynamodb:UpdateItem",
        "secretsmanager:GetSecretValue",
        "ses:SendBulkTemplatedEmail",
        "sqs:SendMessage",
    },
    # The recipient's page: reads the link's lookup item and the delivery; the customer's controls update
    # it (a replaced code puts the new link's lookup item in the same transaction); derives the code.
    "RecipientPageFunction": {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "secretsmanager:GetSecretValue",
    },
    # Puts integration events on the stack's bus; reads the receipt key to sign a delivered event's receipt.
    "EventPublisherFunction": {"events:PutEvents", "secretsmanager:GetSecretValue"},
}
# Every function holds the code key: to derive codes, or (AttemptFunction) only to key the fingerprint of
# Idempotency-Key requests, or (BounceFunction) only to key the suppression list's MACs of addresses.
CODE_KEY_READERS = {
    "BounceFunction",
    "RegisterFunction",
    "StorefrontFunction",
    "RecipientPageFunction",
    "VerifyFunction",
    "AttemptFunction",
    "RotationWorkerFunction",
    "EmailFunction",
}


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resource(name: str) -> dict[str, Any]:
    found = template()["Resources"].get(name)
    assert found is not None, f"template.yaml has no resource {name}"
    return found


def _props(name: str) -> dict[str, Any]:
    return _resource(name).get("Properties", {})


def _refers_to(value: Any, logical_id: str) -> bool:
    """True when a CFN value is !Ref, !GetAtt or !Sub of the given resource."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((fn, arg),) = value.items()
    if fn == "Ref":
        return arg == logical_id
    if fn == "Fn::GetAtt":
        return _as_list(arg)[0] == logical_id
    if fn == "Fn::Sub":
        text = arg[0] if isinstance(arg, list) else arg
        return re.search(r"\$\{" + re.escape(logical_id) + r"(\.[A-Za-z]+)?\}", text) is not None
    return False


def _statements(function_name: str) -> list[dict[str, Any]]:
    policies = functions()[function_name].get("Policies", [])
    statements = []
    for policy in _as_list(policies):
        # Only inline statement documents: no managed policy names, no broad SAM policy templates.
        assert isinstance(policy, dict) and set(policy) == {"Statement"}, (
            f"{function_name}: policy {policy!r} is not an inline statement list"
        )
        statements.extend(_as_list(policy["Statement"]))
    return statements


def _table_schema(props: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    keys = {k["KeyType"]: k["AttributeName"] for k in props["KeySchema"]}
    return types, keys


def _gsi(props: dict[str, Any], name: str) -> dict[str, Any]:
    indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
    assert name in indexes, f"no GSI {name}, only {sorted(indexes)}"
    return indexes[name]


def _events() -> dict[str, Any]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(EVENTS_DIR.glob("*.json"))}


# --------------------------------------------------------------------------------------------------
# A small EventBridge Scheduler expression validator (cfn-lint takes any string).
# https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
# --------------------------------------------------------------------------------------------------

MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), start=1)}
WEEKDAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split(), start=1)}
# name, low, high, names, extra characters the field accepts
CRON_FIELDS = (
    ("minutes", 0, 59, {}, ""),
    ("hours", 0, 23, {}, ""),
    ("day-of-month", 1, 31, {}, "?LW"),
    ("month", 1, 12, MONTHS, ""),
    ("day-of-week", 1, 7, WEEKDAYS, "?L#"),
    ("year", 1970, 2199, {}, ""),
)
RATE_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class ScheduleExpression:
    kind: str  # "cron", "rate" or "at"
    fields: tuple[str, ...] = ()
    interval_seconds: int | None = None

    def expand(self, index: int) -> set[int]:
        """The values a plain cron field (minutes, hours, month, year) takes."""
        _, low, high, names, _ = CRON_FIELDS[index]
        return _expand(self.fields[index], low, high, names)


def _number(token: str, low: int, high: int, names: dict[str, int]) -> int:
    if token.upper() in names:
        value = names[token.upper()]
    elif token.isdigit():
        value = int(token)
    else:
        raise ValueError(f"{token!r} is not a number or a name")
    if not low <= value <= high:
        raise ValueError(f"{token!r} is not in {low}..{high}")
    return value


def _expand(field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"bad increment in {part!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = _number(first, low, high, names), _number(last, low, high, names)
            if start > end:
                raise ValueError(f"empty range {base!r}")
        else:
            start = _number(base, low, high, names)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return values


def _check_special(field: str, name: str, low: int, high: int, names: dict[str, int]) -> None:
    """Day-of-month and day-of-week extras: `?`, `L`, `nW`, `LW`, `nL`, `n#k`."""
    if field == "?" or field == "L" or (name == "day-of-month" and field == "LW"):
        return
    if name == "day-of-month" and field.endswith("W"):
        _number(field[:-1], low, high, names)
        return
    if name == "day-of-week" and field.endswith("L"):
        _number(field[:-1], low, high, names)
        return
    if name == "day-of-week" and "#" in field:
        day, _, nth = field.partition("#")
        _number(day, low, high, names)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise ValueError(f"bad nth weekday {field!r}")
        return
    raise ValueError(f"{name}: {field!r} is not valid")


def parse_schedule_expression(expression: str) -> ScheduleExpression:
    """Parse a Scheduler `cron(...)`, `rate(...)` or `at(...)` expression; ValueError when AWS would refuse it."""
    if m := re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression):
        value, unit = int(m.group(1)), m.group(2)
        if value < 1:
            raise ValueError("a rate must be positive")
        if (value == 1) != (not unit.endswith("s")):
            raise ValueError("the unit is singular for 1 and plural otherwise")
        return ScheduleExpression("rate", interval_seconds=value * RATE_SECONDS[unit.rstrip("s")])
    if m := re.fullmatch(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)", expression):
        datetime.fromisoformat(m.group(1))
        return ScheduleExpression("at")
    m = re.fullmatch(r"cron\(([^()]*)\)", expression)
    if not m:
        raise ValueError(f"{expression!r} is not cron(...), rate(...) or at(...)")
    fields = tuple(m.group(1).split(" "))
    if len(fields) != 6 or any(not f for f in fields):
        raise ValueError(f"a cron expression has 6 fields separated by single spaces, got {fields}")
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ValueError("exactly one of day-of-month and day-of-week must be '?'")
    for field, (name, low, high, names, extra) in zip(fields, CRON_FIELDS, strict=True):
        if extra and any(ch in field for ch in extra):
            _check_special(field, name, low, high, names)
        else:
            _expand(field, low, high, names)
    return ScheduleExpression("cron", fields=fields)


def longest_gap_minutes(schedule: ScheduleExpression) -> int:
    """The longest time between two runs of a schedule that runs every day."""
    if schedule.kind == "rate":
        assert schedule.interval_seconds is not None
        return schedule.interval_seconds // 60
    assert schedule.kind == "cron"
    assert schedule.fields[2] in {"*", "?"} and schedule.fields[4] in {"*", "?"}, "runs on some days only"
    assert schedule.fields[3] == "*" and schedule.fields[5] == "*", "runs in some months or years only"
    runs = sorted(h * 60 + m for h in schedule.expand(1) for m in schedule.expand(0))
    gaps = [b - a for a, b in zip(runs, runs[1:], strict=False)] + [runs[0] + 1440 - runs[-1]]
    return max(gaps)


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0/15 * * * ? *)",
        "cron(0 2 ? * MON-SAT *)",
        "cron(15 10 ? * 6L 2026-2030)",
        "cron(0 8 1,15 * ? *)",
        "cron(0 9 LW * ? *)",
        "cron(0 9 ? JAN-MAR 2#1 *)",
        "cron(*/5 * * * ? *)",
        "rate(1 hour)",
        "rate(15 minutes)",
        "at(2026-11-24T00:15:00)",
    ],
)
def test_schedule_validator_accepts_valid_expressions(expression: str) -> None:
    parse_schedule_expression(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0/15 * * * *)",  # 5 fields: Unix cron, not EventBridge
        "cron(0/15 * * * * *)",  # no '?'
        "cron(0 2 ? * ? *)",  # both '?'
        "cron(60 * * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 0 32 * ? *)",
        "cron(0 0 ? * 8 *)",
        "cron(0 0 ? FOO * *)",
        "cron(0/0 * * * ? *)",
        "cron(0 0 L * MON *)",
        "rate(1 hours)",
        "rate(15 minute)",
        "rate(0 minutes)",
        "rate(2 weeks)",
        "every 15 minutes",
    ],
)
def test_schedule_validator_refuses_invalid_expressions(expression: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule_expression(expression)


# --------------------------------------------------------------------------------------------------
# Table
# --------------------------------------------------------------------------------------------------


def test_the_table_expires_items_by_expires_at_as_the_model_does() -> None:
    from delivery_otp.model import DeliveryModel
    from pynamodb.attributes import TTLAttribute

    ttl = _props("DeliveriesTable")["TimeToLiveSpecification"]
    model_ttl = [a.attr_name for a in DeliveryModel.get_attributes().values() if isinstance(a, TTLAttribute)]

    assert ttl == {"AttributeName": "expires_at", "Enabled": True}
    assert model_ttl == ["expires_at"]


def test_the_table_keys_and_due_index_match_the_model() -> None:
    from delivery_otp.model import DeliveryModel

    props = _props("DeliveriesTable")
    types, keys = _table_schema(props)
    due = _gsi(props, "due-index")
    # pynamodb has no public schema accessor; _get_schema is what its create_table uses.
    schema = DeliveryModel._get_schema()
    model_types = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
    model_gsi = {i["index_name"]: i for i in schema["global_secondary_indexes"]}

    assert keys == {"HASH": "pk"}
    assert {k["KeyType"]: k["AttributeName"] for k in due["KeySchema"]} == {"HASH": "due_shard", "RANGE": "due_at"}
    # Keys only: the rotation reads the items themselves, so no other write ever touches the index.
    assert due["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert due["Projection"] == model_gsi["due-index"]["projection"]
    assert types == {"pk": "S", "due_shard": "S", "due_at": "N"}
    assert types == model_types
    assert set(model_gsi) == {"due-index"}
    assert {k["KeyType"]: k["AttributeName"] for k in model_gsi["due-index"]["key_schema"]} == {
        "HASH": "due_shard",
        "RANGE": "due_at",
    }


def test_the_table_is_recoverable_encrypted_streamed_and_kept() -> None:
    table = _resource("DeliveriesTable")
    props = table["Properties"]

    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_the_code_key_is_a_generated_secret_kept_on_delete() -> None:
    secret = _resource("CodeKeySecret")
    generated = secret["Properties"]["GenerateSecretString"]

    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert generated["PasswordLength"] >= 32
    assert generated.get("ExcludePunctuation") is True
    assert "SecretString" not in secret["Properties"]
    assert secret["DeletionPolicy"] == "Retain"


# --------------------------------------------------------------------------------------------------
# Functions and layer
# --------------------------------------------------------------------------------------------------


def test_the_template_has_exactly_the_functions_listed_here() -> None:
    assert set(functions()) == set(ALLOWED_ACTIONS)


@pytest.mark.parametrize("name", sorted(ALLOWED_ACTIONS))
def test_every_function_runs_python313_on_arm64_with_the_shared_layer(name: str) -> None:
    props = functions()[name]

    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert {"Ref": "SharedLayer"} in props["Layers"]
    assert props["Tracing"] == "Active"


@pytest.mark.parametrize("name", sorted(ALLOWED_ACTIONS))
def test_every_function_code_folder_exists_with_its_handler_module(name: str) -> None:
    props = functions()[name]
    module, _, handler = props["Handler"].rpartition(".")
    code = ROOT / props["CodeUri"]

    assert (module, handler) == ("app", "lambda_handler")
    assert code.is_dir(), f"{name}: {code} is missing"
    assert (code / "app.py").is_file(), f"{name}: {code / 'app.py'} is missing"


def test_every_function_gets_the_configuration_the_domain_reads() -> None:
    env = template()["Globals"]["Function"]["Environment"]["Variables"]
    params = template()["Parameters"]

    assert _refers_to(env["TABLE_NAME"], "DeliveriesTable")
    assert _refers_to(env["CODE_KEY_SECRET_ID"], "CodeKeySecret")
    assert env["EMAIL_SENDER"] == {"Ref": "EmailSender"}
    assert env["CODE_THRESHOLDS"] == {"Ref": "CodeThresholds"}
    assert env["WORKING_DAYS"] == {"Ref": "WorkingDays"}
    assert int(env["ROTATION_SHARDS"]) >= 1
    assert env["POWERTOOLS_SERVICE_NAME"] == "delivery-otp"
    # The defaults parse the way delivery_otp.config reads them: amounts as strings, weekday ranges.
    thresholds = json.loads(params["CodeThresholds"]["Default"])
    assert thresholds == {"EUR": "300", "GBP": "300", "CHF": "300", "USD": "300"}
    assert all(isinstance(v, str) for v in thresholds.values())
    assert json.loads(params["WorkingDays"]["Default"]) == {"default": "MON-SAT"}
    # Returns to sender: 3 failed attempts or 10 working days unless the shop says otherwise.
    assert env["MAX_FAILED_ATTEMPTS"] == {"Ref": "MaxFailedAttempts"} and params["MaxFailedAttempts"]["Default"] == 3
    assert env["MAX_OPEN_WORKING_DAYS"] == {"Ref": "MaxOpenWorkingDays"}
    assert params["MaxOpenWorkingDays"]["Default"] == 10


def test_the_layer_is_built_for_python313_arm64_from_the_package_folder() -> None:
    layer = _resource("SharedLayer")
    props = layer["Properties"]
    folder = ROOT / props["ContentUri"]

    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert props["CompatibleRuntimes"] == ["python3.13"]
    assert props["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    # The build method copies the folder into python/: the package sits directly under it.
    assert (folder / "delivery_otp" / "__init__.py").is_file()
    assert not (folder / "python").exists()
    assert (folder / "requirements.txt").is_file()


def test_the_layer_ships_exactly_the_project_dependencies() -> None:
    def pinned(lines: list[str]) -> dict[str, str]:
        reqs = [Requirement(line) for line in lines]
        return {canonicalize_name(r.name): f"{sorted(r.extras)}{r.specifier}{r.marker or ''}" for r in reqs}

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    layer_lines = [
        line.split("#", 1)[0].strip()
        for line in (ROOT / "layers/shared/requirements.txt").read_text(encoding="utf-8").splitlines()
    ]

    assert pinned([line for line in layer_lines if line]) == pinned(project)


# --------------------------------------------------------------------------------------------------
# HTTP API
# --------------------------------------------------------------------------------------------------


def test_the_http_api_serves_exactly_the_spec_routes() -> None:
    routes = [(method, path) for method, path, _ in http_routes()]

    assert sorted(routes) == sorted(SPEC_ROUTES)
    assert len(routes) == len(set(routes)), "a route is declared twice"


def test_every_route_names_its_path_parameter_id() -> None:
    for method, path, name in http_routes():
        params = re.findall(r"\{([^}]*)\}", path)
        if path.startswith("/r/"):
            allowed = ([], ["token"])
        elif path.startswith("/courier/"):
            allowed = ([], ["asset"])
        else:
            allowed = ([], ["id"], ["id", "delegate_id"])
        assert params in allowed, f"{method} {path} ({name}) has path parameters {params}"


def test_every_route_belongs_to_the_delivery_api() -> None:
    for name, props in functions().items():
        for event_name, event in props.get("Events", {}).items():
            if event["Type"] == "HttpApi":
                assert event["Properties"]["ApiId"] == {"Ref": "DeliveryApi"}, f"{name}.{event_name}"


def test_the_routes_go_to_the_functions_that_own_them() -> None:
    owners = {f"{method} {path}": name for method, path, name in http_routes()}

    assert owners == {
        "POST /deliveries": "RegisterFunction",
        "GET /deliveries/{id}": "StorefrontFunction",
        "GET /deliveries/{id}/code": "StorefrontFunction",
        "POST /deliveries/{id}/cancel": "StorefrontFunction",
        "GET /deliveries/{id}/events": "StorefrontFunction",
        "POST /deliveries/{id}/verifications": "VerifyFunction",
        "POST /deliveries/{id}/attempts": "AttemptFunction",
        "GET /deliveries/{id}/door": "AttemptFunction",
        "GET /courier/": "CourierAppFunction",
        "GET /courier/{asset}": "CourierAppFunction",
        "PUT /deliveries/{id}/courier": "StorefrontFunction",
        "POST /deliveries/{id}/code/resend": "StorefrontFunction",
        "POST /deliveries/{id}/code/rotate": "StorefrontFunction",
        "PUT /deliveries/{id}/schedule": "StorefrontFunction",
        "POST /deliveries/{id}/delegates": "StorefrontFunction",
        "DELETE /deliveries/{id}/delegates/{delegate_id}": "StorefrontFunction",
        "GET /deliveries/{id}/receipt": "StorefrontFunction",
        "DELETE /deliveries/{id}/personal-data": "StorefrontFunction",
        "GET /.well-known/jwks.json": "StorefrontFunction",
        "POST /deliveries/{id}/release": "StorefrontFunction",
        "POST /deliveries/{id}/return": "StorefrontFunction",
        "POST /webhooks": "StorefrontFunction",
        "GET /webhooks": "StorefrontFunction",
        "DELETE /webhooks/{id}": "StorefrontFunction",
        "POST /webhooks/{id}/secret/rotate": "StorefrontFunction",
        "POST /webhooks/{id}/test": "StorefrontFunction",
        "GET /webhooks/{id}/deliveries": "StorefrontFunction",
        "GET /r/{token}": "RecipientPageFunction",
        "POST /r/{token}": "RecipientPageFunction",
        "GET /pages/page.css": "RecipientPageFunction",
    }


def test_the_storefront_invoke_policy_covers_every_storefront_route_and_no_courier_route() -> None:
    """A storefront given the published policy must reach every route it owns, and only those."""
    statement = _props("StorefrontInvokePolicy")["PolicyDocument"]["Statement"]
    prefix = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${DeliveryApi}/*/"

    def patterns(effect: str) -> list[re.Pattern[str]]:
        arns = [arn["Fn::Sub"] for s in statement if s["Effect"] == effect for arn in s["Resource"]]
        assert all(arn.startswith(prefix) for arn in arns)
        # execute-api resource ARNs match `*` across slashes: the same glob API Gateway applies.
        return [re.compile(re.escape(arn[len(prefix) :]).replace(r"\*", ".*") + "$") for arn in arns]

    allows, denies = patterns("Allow"), patterns("Deny")

    def allowed(method: str, path: str) -> bool:
        concrete = method + re.sub(r"\{[^}]+\}", "X-1", path)
        return any(p.match(concrete) for p in allows) and not any(p.match(concrete) for p in denies)

    assert {r for r in STOREFRONT_ROUTES if not allowed(*r)} == set()
    assert {r for r in COURIER_ROUTES if allowed(*r)} == set()


def _route_auth() -> dict[tuple[str, str], dict]:
    found = {}
    for props in functions().values():
        for event in props.get("Events", {}).values():
            if event.get("Type") == "HttpApi":
                ev = event["Properties"]
                found[(ev["Method"].upper(), ev["Path"])] = ev.get("Auth", {})
    return found


def test_storefront_routes_require_iam_and_courier_routes_a_cognito_token_with_the_verify_scope() -> None:
    auth = _props("DeliveryApi")["Auth"]
    assert auth["EnableIamAuthorizer"] is True and auth["DefaultAuthorizer"] == "AWS_IAM"
    jwt = auth["Authorizers"]["CourierJwt"]
    assert jwt["IdentitySource"] == "$request.header.Authorization"
    assert jwt["JwtConfiguration"]["audience"] == [{"Ref": "CourierAppClient"}]
    assert "${CourierUserPool}" in jwt["JwtConfiguration"]["issuer"]["Fn::Sub"]
    routes = _route_auth()
    for route in STOREFRONT_ROUTES:
        assert routes[route].get("Authorizer", "AWS_IAM") == "AWS_IAM", route
    scope = (
        _props("CourierResourceServer")["Identifier"] + "/" + _props("CourierResourceServer")["Scopes"][0]["ScopeName"]
    )
    for route in COURIER_ROUTES:
        assert routes[route] == {"Authorizer": "CourierJwt", "AuthorizationScopes": [scope]}, route
    for route in PUBLIC_ROUTES:
        assert routes[route] == {"Authorizer": "NONE"}, route
    client = _props("CourierAppClient")
    assert scope in client["AllowedOAuthScopes"] and client["GenerateSecret"] is False
    assert "client_credentials" not in client["AllowedOAuthFlows"]  # a token must name a courier


def test_the_api_logs_access_and_throttles_by_default() -> None:
    props = _props("DeliveryApi")
    access = props["AccessLogSettings"]
    log_format = json.loads(access["Format"])
    throttle = props["DefaultRouteSettings"]

    assert _refers_to(access["DestinationArn"], "ApiAccessLogGroup")
    assert _props("ApiAccessLogGroup").get("RetentionInDays")
    assert {"requestId", "routeKey", "status"} <= set(log_format)
    # Headers and bodies can hold codes, tokens and e-mail addresses: never in the access log.
    assert not re.search(r"\$context\.(requestOverride|responseOverride)|\$input|header", access["Format"])
    assert throttle["ThrottlingBurstLimit"] > 0
    assert throttle["ThrottlingRateLimit"] > 0


def test_no_access_log_field_can_carry_a_path_or_a_query() -> None:
    """The recipient's page link is /r/{token}: a raw path in the access log would keep every token. Only
    the route key (the route as declared, its parameters unfilled) says which route was called."""
    log_format = json.loads(_props("DeliveryApi")["AccessLogSettings"]["Format"])
    variables = {
        field: re.findall(r"\$(context\.[A-Za-z.]+|input\.[A-Za-z.]+|stageVariables\.[A-Za-z.]+)", value)
        for field, value in log_format.items()
    }
    assert all(variables.values()), "every field is one of API Gateway's $context variables"
    for field, names in variables.items():
        for name in names:
            lowered = name.lower()
            assert not any(word in lowered for word in ("path", "query", "uri", "url", "input", "header")), (
                f"access log field {field!r} logs ${name}, which can carry a request's path or query"
            )
    assert log_format["routeKey"] == "$context.routeKey"


# --------------------------------------------------------------------------------------------------
# Permissions
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALLOWED_ACTIONS))
def test_no_function_policy_uses_wildcard_resources_or_actions(name: str) -> None:
    for statement in _statements(name):
        actions = _as_list(statement["Action"])
        resources_ = _as_list(statement["Resource"])

        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        assert all("*" not in action for action in actions), f"{name}: wildcard action in {actions}"
        assert "*" not in resources_, f"{name}: Resource '*' for {actions}"
        for resource in resources_:
            if any(a.split(":")[0] in {"dynamodb", "sqs", "secretsmanager"} for a in actions):
                # Data services are scoped to resources of this template (an index by its name).
                assert any(_refers_to(resource, r) for r in resources()), f"{name}: {resource!r} for {actions}"


@pytest.mark.parametrize("name", sorted(ALLOWED_ACTIONS))
def test_every_function_may_do_only_what_it_needs(name: str) -> None:
    granted = {action for s in _statements(name) for action in _as_list(s["Action"])}

    assert granted == ALLOWED_ACTIONS[name]


def test_only_the_functions_that_derive_codes_can_read_the_code_key() -> None:
    readers: dict[str, set[str]] = {"CodeKeySecret": set(), "ReceiptKeySecret": set(), "WebhookSecretKey": set()}
    for name in functions():
        for statement in _statements(name):
            if any(a.startswith("secretsmanager:") for a in _as_list(statement["Action"])):
                (secret,) = [s for s in readers if all(_refers_to(r, s) for r in _as_list(statement["Resource"]))]
                readers[secret].add(name)

    assert readers["CodeKeySecret"] == CODE_KEY_READERS
    # The ones that sign receipts: the receipt route, and the publisher of a delivered event.
    assert readers["ReceiptKeySecret"] == {"StorefrontFunction", "EventPublisherFunction"}
    # Shows a webhook's secret (storefront) and signs with it (dispatcher); nothing that handles codes.
    assert readers["WebhookSecretKey"] == {"StorefrontFunction", "WebhookDispatchFunction"}


def test_the_rotation_queries_only_the_due_index() -> None:
    queried = [
        r
        for s in _statements("RotationWorkerFunction")
        if "dynamodb:Query" in _as_list(s["Action"])
        for r in _as_list(s["Resource"])
    ]
    index_arns = [r["Fn::Sub"] for r in queried if "Fn::Sub" in r]

    assert index_arns == ["${DeliveriesTable.Arn}/index/due-index"]


def test_the_email_function_sends_only_from_the_configured_sender() -> None:
    (ses,) = [s for s in _statements("EmailFunction") if "ses:SendBulkTemplatedEmail" in _as_list(s["Action"])]

    assert ses["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "EmailSender"}}}


# --------------------------------------------------------------------------------------------------
# Rotation schedule
# --------------------------------------------------------------------------------------------------


def _rotation_schedule() -> dict[str, Any]:
    schedules = resources("AWS::Scheduler::Schedule")
    assert set(schedules) == {"RotationSchedule"}
    return schedules["RotationSchedule"]["Properties"]


def test_the_rotation_schedule_is_a_valid_recurring_expression_in_a_real_time_zone() -> None:
    props = _rotation_schedule()
    schedule = parse_schedule_expression(props["ScheduleExpression"])

    assert schedule.kind in {"cron", "rate"}
    assert props["ScheduleExpressionTimezone"] in zoneinfo.available_timezones()
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props.get("State", "ENABLED") == "ENABLED"


def test_the_rotation_runs_at_least_hourly_every_day() -> None:
    # Every delivery is rotated within an hour of its local midnight, whatever its offset.
    schedule = parse_schedule_expression(_rotation_schedule()["ScheduleExpression"])

    assert longest_gap_minutes(schedule) <= 60


def test_the_rotation_schedule_invokes_the_rotation_function_with_the_sample_input() -> None:
    target = _rotation_schedule()["Target"]

    assert _refers_to(target["Arn"], "RotationFunction")
    assert json.loads(target["Input"]) == _events()["rotation_schedule.json"]


def test_the_rotation_schedule_retries_then_dead_letters() -> None:
    target = _rotation_schedule()["Target"]

    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert 60 <= target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 86400
    assert _refers_to(target["DeadLetterConfig"]["Arn"], "RotationDeadLetterQueue")
    failure = functions()["RotationFunction"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert _refers_to(failure["Destination"], "RotationDeadLetterQueue")


def test_the_scheduler_role_may_only_invoke_the_rotation_and_dead_letter() -> None:
    target = _rotation_schedule()["Target"]
    role_name = target["RoleArn"]["Fn::GetAtt"][0]
    role = _props(role_name)
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    granted = {
        (action, json.dumps(resource, sort_keys=True))
        for s in statements
        for action in _as_list(s["Action"])
        for resource in _as_list(s["Resource"])
    }

    assert [t["Principal"] for t in trust] == [{"Service": "scheduler.amazonaws.com"}]
    assert "ManagedPolicyArns" not in role
    assert granted == {
        ("lambda:InvokeFunction", json.dumps({"Fn::GetAtt": ["RotationFunction", "Arn"]})),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["RotationDeadLetterQueue", "Arn"]})),
    }


def test_the_rotation_fans_out_one_shard_per_message_each_retried_alone() -> None:
    planner, worker = functions()["RotationFunction"], functions()["RotationWorkerFunction"]
    (event,) = worker["Events"].values()
    queue = _props("RotationQueue")

    assert planner["Timeout"] <= 60 and planner["Environment"]["Variables"]["ROTATION_QUEUE_URL"] == {
        "Ref": "RotationQueue"
    }
    assert event["Type"] == "SQS" and _refers_to(event["Properties"]["Queue"], "RotationQueue")
    assert event["Properties"]["BatchSize"] == 1  # a failed shard is retried alone
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert worker["Timeout"] <= 600  # far from Lambda's 15 minutes: the work is split by shard
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]  # AWS's advice for Lambda consumers
    assert _refers_to(queue["RedrivePolicy"]["deadLetterTargetArn"], "RotationDeadLetterQueue")
    assert 1 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    assert not any(e["Type"] == "HttpApi" for e in planner.get("Events", {}).values())


# --------------------------------------------------------------------------------------------------
# Email from the stream
# --------------------------------------------------------------------------------------------------


def _stream_event() -> dict[str, Any]:
    events = [e for e in functions()["EmailFunction"]["Events"].values() if e["Type"] == "DynamoDB"]
    assert len(events) == 1
    return events[0]["Properties"]


def test_the_email_stream_retries_bisects_and_reports_partial_failures() -> None:
    props = _stream_event()

    assert _refers_to(props["Stream"], "DeliveriesTable")
    assert props["Stream"] == {"Fn::GetAtt": ["DeliveriesTable", "StreamArn"]}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert 1 <= props["MaximumRetryAttempts"] <= 10  # -1 would retry a poison record forever
    assert props["BisectBatchOnFunctionError"] is True
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # docs/scale.md: with one batch per stream shard, a big night's emails wait on the stream, not on SES.
    assert props["ParallelizationFactor"] == 10


def test_a_delegate_email_claim_outlives_the_email_function_that_made_it() -> None:
    """A claim's lease may be taken over only once the sender that made it can no longer be running."""
    from delivery_otp.notifications import LEASE_SECONDS

    assert int(functions()["EmailFunction"]["Timeout"]) < LEASE_SECONDS


def test_unsent_emails_land_in_the_email_dead_letter_queue() -> None:
    on_failure = _stream_event()["DestinationConfig"]["OnFailure"]
    queue = _resource("EmailDeadLetterQueue")["Properties"]

    assert on_failure["Type"] == "SQS"
    assert _refers_to(on_failure["Destination"], "EmailDeadLetterQueue")
    assert queue["MessageRetentionPeriod"] == 1209600
    assert queue["SqsManagedSseEnabled"] is True


def test_every_queue_is_encrypted_and_keeps_messages_two_weeks() -> None:
    queues = resources("AWS::SQS::Queue")

    assert set(queues) == {
        "EmailDeadLetterQueue",
        "RotationDeadLetterQueue",
        "RotationQueue",
        "EventPublisherDeadLetterQueue",
        "WebhookEventsQueue",
        "WebhookEventsDeadLetterQueue",
        "WebhookDeliveryQueue",
        "WebhookDeadLetterQueue",
    }
    for props in (q["Properties"] for q in queues.values()):
        assert props["SqsManagedSseEnabled"] is True
        assert props["MessageRetentionPeriod"] == 1209600


# --------------------------------------------------------------------------------------------------
# Integration events
# --------------------------------------------------------------------------------------------------


def _publisher_stream() -> dict[str, Any]:
    (event,) = functions()["EventPublisherFunction"]["Events"].values()
    assert event["Type"] == "DynamoDB"
    return event["Properties"]


def test_the_event_publisher_reads_the_stream_retries_bisects_and_dead_letters() -> None:
    props = _publisher_stream()
    on_failure = props["DestinationConfig"]["OnFailure"]

    assert props["Stream"] == {"Fn::GetAtt": ["DeliveriesTable", "StreamArn"]}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    # Lambda keeps each item's records in order across a shard's parallel batches: a delivery's events
    # still go out in trail order. docs/scale.md counts on 10.
    assert props["ParallelizationFactor"] == 10
    assert 1 <= props["MaximumRetryAttempts"] <= 10
    assert props["BisectBatchOnFunctionError"] is True
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert on_failure["Type"] == "SQS" and _refers_to(on_failure["Destination"], "EventPublisherDeadLetterQueue")
    assert functions()["EventPublisherFunction"]["ReservedConcurrentExecutions"] >= 1


def test_the_event_publisher_is_given_only_deliveries_written_or_changed() -> None:
    from local.filters import record_filter

    wanted = record_filter(_publisher_stream())

    def record(event_name: str, pk: str) -> dict[str, Any]:
        return {"eventName": event_name, "dynamodb": {"Keys": {"pk": {"S": pk}}}}

    assert wanted(record("INSERT", "D#IT-1")) and wanted(record("MODIFY", "D#IT-1"))
    assert not wanted(record("REMOVE", "D#IT-1"))  # TTL tidying up is no event
    assert not wanted(record("MODIFY", "C#courier-1"))  # courier budgets
    assert not wanted(record("INSERT", "S#0a1b"))  # suppressed addresses
    assert not wanted(record("INSERT", "idempotency#x"))


def test_the_event_publisher_puts_only_on_the_stacks_bus() -> None:
    (put,) = [s for s in _statements("EventPublisherFunction") if "events:PutEvents" in _as_list(s["Action"])]
    env = functions()["EventPublisherFunction"]["Environment"]["Variables"]

    assert _as_list(put["Resource"]) == [{"Fn::GetAtt": ["EventBus", "Arn"]}]
    assert env["EVENT_BUS_NAME"] == {"Ref": "EventBus"}
    assert env["RECEIPT_KEY_SECRET_ID"] == {"Ref": "ReceiptKeySecret"}


def test_the_bus_is_archived_30_days_and_named_in_the_outputs() -> None:
    (bus,) = resources("AWS::Events::EventBus")
    (archive,) = resources("AWS::Events::Archive").values()
    outputs = template()["Outputs"]

    assert bus == "EventBus"
    assert archive["Properties"]["SourceArn"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    assert archive["Properties"]["RetentionDays"] == 30
    assert archive["Properties"]["EventPattern"] == {"source": ["delivery-otp"]}
    assert outputs["EventBusName"]["Value"] == {"Ref": "EventBus"}
    assert outputs["EventBusArn"]["Value"] == {"Fn::GetAtt": ["EventBus", "Arn"]}


def test_every_event_on_the_bus_is_queued_for_the_webhooks_and_only_the_rule_may_send() -> None:
    (rule_name,) = resources("AWS::Events::Rule")
    rule = _props(rule_name)
    (target,) = rule["Targets"]
    (policy,) = resources("AWS::SQS::QueuePolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    queue = _props("WebhookEventsQueue")

    assert rule["EventBusName"] == {"Ref": "EventBus"} and rule["EventPattern"] == {"source": ["delivery-otp"]}
    assert _refers_to(target["Arn"], "WebhookEventsQueue")
    assert _refers_to(target["DeadLetterConfig"]["Arn"], "WebhookEventsDeadLetterQueue")
    assert _refers_to(queue["RedrivePolicy"]["deadLetterTargetArn"], "WebhookEventsDeadLetterQueue")
    assert {"Ref": "WebhookEventsQueue"} in policy["Properties"]["Queues"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_name, "Arn"]}}}


# --------------------------------------------------------------------------------------------------
# Logs
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALLOWED_ACTIONS))
def test_every_function_has_a_log_group_with_retention(name: str) -> None:
    groups = [
        g["Properties"]
        for g in resources("AWS::Logs::LogGroup").values()
        if g["Properties"].get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{name}}}"}
    ]

    assert len(groups) == 1, f"{name} has {len(groups)} log groups named /aws/lambda/${{{name}}}"
    assert groups[0]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# --------------------------------------------------------------------------------------------------
# Sample events and deployment settings
# --------------------------------------------------------------------------------------------------


def test_every_sample_event_parses_as_a_json_object() -> None:
    events = _events()

    assert {"rotation_schedule.json", "email_stream.json"} <= set(events)
    assert all(isinstance(event, dict) for event in events.values())


def test_every_route_has_a_sample_api_event() -> None:
    sampled = {e["routeKey"] for e in _events().values() if "routeKey" in e}

    assert sampled == {f"{method} {path}" for method, path in SPEC_ROUTES}


@pytest.mark.parametrize(
    "file_name", sorted(p.name for p in EVENTS_DIR.glob("*.json") if "routeKey" in json.loads(p.read_text()))
)
def test_api_sample_events_are_http_api_v2_events_of_a_template_route(file_name: str) -> None:
    event = _events()[file_name]
    route_keys = {f"{method} {path}" for method, path, _ in http_routes()}
    method, route_path = event["routeKey"].split(" ", 1)
    params = event.get("pathParameters") or {}
    expected_path = re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], route_path)
    context = event["requestContext"]

    assert event["version"] == "2.0"
    assert event["routeKey"] in route_keys
    assert context["routeKey"] == event["routeKey"]
    assert context["http"]["method"] == method
    assert event["rawPath"] == context["http"]["path"] == expected_path
    assert context["stage"] == "$default"
    assert all(h == h.lower() for h in event["headers"])
    assert event["isBase64Encoded"] is False
    if method == "POST" and event["headers"].get("content-type") == "application/x-www-form-urlencoded":
        assert parse_qs(event["body"], strict_parsing=True)  # a page's form
    elif method == "POST":
        assert isinstance(json.loads(event["body"]), dict)


def test_the_registration_sample_is_the_spec_example() -> None:
    body = json.loads(_events()["register_delivery.json"]["body"])

    assert body["delivery_id"] == "IT-000123"
    assert body["order_value"] == {"amount": "349.90", "currency": "EUR"}
    assert body["destination"]["timezone"] == "Europe/Rome"


def test_the_stream_sample_is_a_new_code_in_a_new_and_old_images_record() -> None:
    (record,) = _events()["email_stream.json"]["Records"]
    images = record["dynamodb"]

    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventName"] == "MODIFY"
    assert re.fullmatch(r"arn:aws:dynamodb:[a-z0-9-]+:\d{12}:table/[^/]+/stream/[0-9T:.-]+", record["eventSourceARN"])
    assert images["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert images["Keys"] == {"pk": {"S": "D#IT-000123"}}
    assert images["NewImage"]["pk"] == images["OldImage"]["pk"] == {"S": "D#IT-000123"}
    assert images["NewImage"]["issue_number"] == {"N": "2"}
    assert images["OldImage"]["issue_number"] == {"N": "1"}


def _samconfig() -> dict[str, Any]:
    return tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("env", ["default", "dev", "prod"])
def test_every_environment_deploys_a_stage_of_the_template(env: str) -> None:
    config = _samconfig()[env]
    deploy = config["deploy"]["parameters"]
    overrides = dict(pair.split("=", 1) for pair in deploy["parameter_overrides"].split())
    stage = overrides["Stage"]

    assert stage in template()["Parameters"]["Stage"]["AllowedValues"]
    assert config["global"]["parameters"]["stack_name"] == f"delivery-otp-{stage}"
    assert set(overrides) <= set(template()["Parameters"])
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True


def test_production_changes_are_confirmed() -> None:
    assert _samconfig()["prod"]["deploy"]["parameters"]["confirm_changeset"] is True


def test_bounces_and_complaints_flow_from_the_code_emails_to_the_bounce_function() -> None:
    destination = _props("CodeEmailEvents")
    (event,) = functions()["BounceFunction"]["Events"].values()
    email = functions()["EmailFunction"]

    assert _refers_to(destination["ConfigurationSetName"], "CodeEmailConfigurationSet")
    assert sorted(destination["EventDestination"]["MatchingEventTypes"]) == ["bounce", "complaint"]
    assert _refers_to(destination["EventDestination"]["SnsDestination"]["TopicARN"], "EmailEventsTopic")
    assert event["Type"] == "SNS" and _refers_to(event["Properties"]["Topic"], "EmailEventsTopic")
    assert email["Environment"]["Variables"]["CODE_EMAIL_CONFIGURATION_SET"] == {"Ref": "CodeEmailConfigurationSet"}
    (send,) = [s for s in _statements("EmailFunction") if "ses:SendBulkTemplatedEmail" in _as_list(s["Action"])]
    assert any("configuration-set/${CodeEmailConfigurationSet}" in r["Fn::Sub"] for r in send["Resource"])
    # The events name addresses: the topic is encrypted with a key SES may use, and only SES publishes.
    assert _refers_to(_props("EmailEventsTopic")["KmsMasterKeyId"], "EmailEventsKey")
    (publish,) = _props("EmailEventsTopicPolicy")["PolicyDocument"]["Statement"]
    assert publish["Principal"] == {"Service": "ses.amazonaws.com"} and "aws:SourceAccount" in str(publish)


def test_local_courier_passwords_always_meet_the_pools_password_policy() -> None:
    from local.auth import local_password

    (pool,) = resources("AWS::Cognito::UserPool").values()
    policy = pool["Properties"]["Policies"]["PasswordPolicy"]
    rules = {
        "RequireLowercase": "[a-z]",
        "RequireUppercase": "[A-Z]",
        "RequireNumbers": "[0-9]",
        "RequireSymbols": r"[\^$*.\[\]{}()?\"!@#%&/\\,><':;|_~`=+-]",
    }
    # Random passwords: a policy met only by chance fails some draws (a random tail lacks a digit ~1 in 60).
    for _ in range(3000):
        password = local_password()
        assert len(password) >= policy["MinimumLength"]
        for rule, pattern in rules.items():
            assert not policy.get(rule) or re.search(pattern, password), (rule, password)


# --------------------------------------------------------------------------------------------------
# Webhooks
# --------------------------------------------------------------------------------------------------


def _sqs_event(name: str) -> dict[str, Any]:
    (event,) = [e["Properties"] for e in functions()[name]["Events"].values() if e["Type"] == "SQS"]
    return event


def test_webhooks_fan_out_from_the_events_queue_to_one_message_per_endpoint_sent_alone() -> None:
    fanout, dispatch = _sqs_event("WebhookFanoutFunction"), _sqs_event("WebhookDispatchFunction")

    assert _refers_to(fanout["Queue"], "WebhookEventsQueue")
    assert _refers_to(dispatch["Queue"], "WebhookDeliveryQueue")
    assert fanout["FunctionResponseTypes"] == dispatch["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # One message per invocation, many at once: a hanging endpoint holds up only its own message.
    assert dispatch["BatchSize"] == 1
    assert dispatch["ScalingConfig"]["MaximumConcurrency"] >= 10
    for queue, dead in (
        ("WebhookEventsQueue", "WebhookEventsDeadLetterQueue"),
        ("WebhookDeliveryQueue", "WebhookDeadLetterQueue"),
    ):
        props = _props(queue)
        assert _refers_to(props["RedrivePolicy"]["deadLetterTargetArn"], dead)
        consumer = "WebhookFanoutFunction" if queue == "WebhookEventsQueue" else "WebhookDispatchFunction"
        assert props["VisibilityTimeout"] >= 6 * int(functions()[consumer]["Timeout"])


def test_the_dispatcher_outlives_one_send_and_dead_letters_where_it_is_told() -> None:
    from delivery_otp.adapters.webhook_http import TIMEOUT_SECONDS

    dispatch = functions()["WebhookDispatchFunction"]
    assert int(dispatch["Timeout"]) >= 2 * TIMEOUT_SECONDS
    assert _refers_to(dispatch["Environment"]["Variables"]["WEBHOOK_DEAD_LETTER_QUEUE_URL"], "WebhookDeadLetterQueue")


def test_webhook_retries_are_swept_every_minute_from_the_due_index_only() -> None:
    (event,) = functions()["WebhookRetryFunction"]["Events"].values()
    assert event["Type"] == "ScheduleV2"
    schedule = parse_schedule_expression(event["Properties"]["ScheduleExpression"])
    assert longest_gap_minutes(schedule) <= 1
    queried = [
        r
        for s in _statements("WebhookRetryFunction")
        if "dynamodb:Query" in _as_list(s["Action"])
        for r in _as_list(s["Resource"])
    ]
    assert [r["Fn::Sub"] for r in queried] == ["${DeliveriesTable.Arn}/index/due-index"]


def test_the_webhook_secret_key_is_a_generated_secret_of_its_own_kept_on_delete() -> None:
    secret = _resource("WebhookSecretKey")
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["DeletionPolicy"] == "Retain"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 64


def test_the_dispatcher_may_run_as_many_at_once_as_its_queue_mapping_asks() -> None:
    dispatch = functions()["WebhookDispatchFunction"]
    assert (
        int(dispatch["ReservedConcurrentExecutions"])
        >= _sqs_event("WebhookDispatchFunction")["ScalingConfig"]["MaximumConcurrency"]
    )
