"""The alarms, read generically from template.yaml, so a function or a dead-letter queue added later
without its alarms (or without its line in the runbook) fails here, naming what is missing.

- every queue that holds failures (a redrive target, an on-failure destination, a function's or a
  schedule's dead-letter queue) has an alarm that fires on its first message;
- every function has an Errors and a Throttles alarm;
- every alarm notifies the alarm topic, and says what it does with missing data;
- the alarm topic's key lets CloudWatch publish (under the AWS-managed key alarms are dropped);
- the runbook and the dashboard name every alarm.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from local.template import ROOT, resources, template

# Keys under which a template names where failures are parked.
FAILURE_KEYS = {"deadLetterTargetArn", "DeadLetterConfig", "DeadLetterQueue", "OnFailure"}


def _alarms() -> dict[str, dict[str, Any]]:
    return {name: spec["Properties"] for name, spec in resources("AWS::CloudWatch::Alarm").items()}


def _logical_ids(value: Any) -> Iterator[str]:
    """Every logical id a CloudFormation value refers to (!Ref, !GetAtt, ${Id} in !Sub)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::GetAtt":
                yield (inner if isinstance(inner, list) else inner.split("."))[0]
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                yield from (m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
            else:
                yield from _logical_ids(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _logical_ids(inner)


def _failure_destinations(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in FAILURE_KEYS:
                yield from _logical_ids(inner)
            else:
                yield from _failure_destinations(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _failure_destinations(inner)


def dead_letter_queues() -> set[str]:
    queues = set(resources("AWS::SQS::Queue"))
    return {name for name in _failure_destinations(template()["Resources"]) if name in queues}


def _alarm_on(namespace: str, metric: str, dimension: str, logical_id: str) -> list[str]:
    return [
        name
        for name, alarm in _alarms().items()
        if alarm.get("Namespace") == namespace
        and alarm.get("MetricName") == metric
        and any(d["Name"] == dimension and logical_id in _logical_ids(d["Value"]) for d in alarm.get("Dimensions", []))
    ]


def test_the_dead_letter_queues_are_found() -> None:
    # The finder itself: the queues of today's template (a new one only adds to this).
    assert {"EmailDeadLetterQueue", "RotationDeadLetterQueue"} <= dead_letter_queues()
    assert "RotationQueue" not in dead_letter_queues()


@pytest.mark.parametrize("queue", sorted(dead_letter_queues()))
def test_every_dead_letter_queue_alarms_on_its_first_message(queue: str) -> None:
    found = _alarm_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue)

    assert found, f"no alarm on the dead-letter queue {queue}"
    for name in found:
        alarm = _alarms()[name]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0), name
        assert alarm["Statistic"] == "Maximum"


@pytest.mark.parametrize("function", sorted(resources("AWS::Serverless::Function")))
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_an_errors_and_a_throttles_alarm(function: str, metric: str) -> None:
    found = _alarm_on("AWS/Lambda", metric, "FunctionName", function)

    assert len(found) == 1, f"{function} needs one {metric} alarm, has {found}"
    assert _alarms()[found[0]]["Statistic"] == "Sum"


@pytest.mark.parametrize("name", sorted(resources("AWS::CloudWatch::Alarm")))
def test_every_alarm_notifies_the_alarm_topic_and_decides_missing_data(name: str) -> None:
    alarm = _alarms()[name]

    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}]
    assert alarm["TreatMissingData"] in {"breaching", "notBreaching", "ignore", "missing"}
    assert alarm["EvaluationPeriods"] >= 1 and alarm["Period"] % 60 == 0


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use() -> None:
    topic = resources("AWS::SNS::Topic")["AlarmTopic"]["Properties"]
    key = resources("AWS::KMS::Key")["AlarmKey"]["Properties"]
    statements = key["KeyPolicy"]["Statement"]
    cloudwatch = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]

    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmKey"}  # a key of the stack's, not alias/aws/sns
    assert key["EnableKeyRotation"] is True
    assert len(cloudwatch) == 1
    assert set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch[0]["Effect"] == "Allow"


def test_an_alarm_email_is_subscribed_only_when_given() -> None:
    parameter = template()["Parameters"]["AlarmEmail"]
    subscription = resources("AWS::SNS::Subscription")["AlarmEmailSubscription"]

    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "") and re.fullmatch(parameter["AllowedPattern"], "ops@shop.it")
    assert not re.fullmatch(parameter["AllowedPattern"], "not an address")
    assert subscription["Condition"] == "HasAlarmEmail"
    assert template()["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert subscription["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}


def test_the_api_alarms_on_server_errors() -> None:
    (name,) = _alarm_on("AWS/ApiGateway", "5xx", "ApiId", "DeliveryApi")

    assert _alarms()[name]["Statistic"] == "Sum"


@pytest.mark.parametrize(
    ("metric", "threshold"),
    # Half the rates at which SES puts an account under review (5% bounces, 0.1% complaints).
    [("Reputation.BounceRate", 0.025), ("Reputation.ComplaintRate", 0.0005)],
)
def test_ses_reputation_alarms_at_half_the_review_rates(metric: str, threshold: float) -> None:
    (alarm,) = [a for a in _alarms().values() if a.get("Namespace") == "AWS/SES" and a["MetricName"] == metric]

    assert alarm["Threshold"] == threshold
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_the_rotation_lag_alarm_watches_the_metric_the_rotation_publishes() -> None:
    from delivery_otp.observability import ROTATION_LAG_METRIC

    env = template()["Globals"]["Function"]["Environment"]["Variables"]
    (alarm,) = [a for a in _alarms().values() if a.get("MetricName") == ROTATION_LAG_METRIC]

    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    # The rotation publishes on every run, 0 included: silence means it stopped.
    assert alarm["TreatMissingData"] == "breaching"
    # At least one run (every 15 minutes) inside each period.
    assert alarm["Period"] >= 900


def test_verifications_are_counted_by_outcome_from_the_verify_log_line() -> None:
    (metric_filter,) = resources("AWS::Logs::MetricFilter").values()
    props = metric_filter["Properties"]
    (transformation,) = props["MetricTransformations"]
    verify = (ROOT / "functions/verify/app.py").read_text(encoding="utf-8")

    assert props["LogGroupName"] == {"Ref": "VerifyLogGroup"}
    assert props["FilterPattern"] == '{ $.message = "verification" }'
    assert transformation["Dimensions"] == [{"Key": "outcome", "Value": "$.outcome"}]
    assert transformation["MetricName"] == "Verifications"
    # The line it counts: every verification is logged with that message and its outcome.
    assert verify.count('logger.info("verification", extra={**context, "outcome":') == 2


def _dashboard() -> str:
    (dashboard,) = resources("AWS::CloudWatch::Dashboard").values()
    return dashboard["Properties"]["DashboardBody"]["Fn::Sub"]


def test_the_dashboard_is_json_that_shows_every_alarm_and_verifications_by_result() -> None:
    body = _dashboard()
    # ${Name} placeholders kept as text (no JSON quoting inside them), so the alarm widget names them.
    widgets = json.loads(body.replace("${", "<").replace('}"', '>"'))["widgets"]
    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    shown = {re.fullmatch(r"<(\w+)\.Arn>", a).group(1) for a in alarm_widget["properties"]["alarms"]}

    assert shown == set(_alarms())
    assert 'MetricName=\\"Verifications\\"' in body and "outcome" in body


def test_the_runbook_names_every_alarm() -> None:
    runbook = (ROOT / "docs/runbook.md").read_text(encoding="utf-8")

    missing = sorted(name for name in _alarms() if f"`{name}`" not in runbook)
    assert missing == [], f"docs/runbook.md says nothing about {missing}"


def test_the_table_and_both_keys_survive_a_deleted_or_replaced_stack() -> None:
    table = resources("AWS::DynamoDB::Table")["DeliveriesTable"]

    assert table["Properties"]["DeletionProtectionEnabled"] is True
    for name in ("DeliveriesTable", "CodeKeySecret", "ReceiptKeySecret"):
        kept = template()["Resources"][name]
        assert (kept["DeletionPolicy"], kept["UpdateReplacePolicy"]) == ("Retain", "Retain"), name
