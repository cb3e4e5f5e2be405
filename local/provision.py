"""Create in an AWS emulator (moto) the stateful resources ``template.yaml`` declares, from the
template's own properties: tables, queues, secrets, the sender identity.

Used by the local stack and by the integration tests, so neither keeps a second description of the
infrastructure. Returns how each logical id resolves (what `!Ref` and `!GetAtt` give in AWS).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

import boto3

from local.template import resources, template

# The account (moto's default) and the region the local stack's AWS answers for.
ACCOUNT = "123456789012"
REGION = "eu-south-1"
_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "StreamSpecification",
    "SSESpecification",
)


def parameter_defaults() -> dict[str, Any]:
    return {name: spec.get("Default") for name, spec in template().get("Parameters", {}).items()}


def provision(session: boto3.Session, *, suffix: str = "local") -> dict[str, dict[str, str]]:
    """Create every table, queue and secret of the template; `suffix` keeps parallel runs apart."""
    refs: dict[str, dict[str, str]] = {}
    for name, spec in resources("AWS::DynamoDB::Table").items():
        props = spec.get("Properties", {})
        table_name = f"{name}-{suffix}"
        ddb = session.client("dynamodb")
        args = {k: props[k] for k in _TABLE_KEYS if k in props}
        if "StreamSpecification" in args:
            args["StreamSpecification"] = {"StreamEnabled": True, **args["StreamSpecification"]}
        if "SSESpecification" in args:
            args["SSESpecification"] = {"Enabled": bool(args["SSESpecification"].get("SSEEnabled", True))}
        description = ddb.create_table(TableName=table_name, **args)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
        refs[name] = {
            "Ref": table_name,
            "Arn": description["TableArn"],
            "StreamArn": description.get("LatestStreamArn", ""),
        }
    for name in resources("AWS::SQS::Queue"):
        sqs = session.client("sqs")
        url = sqs.create_queue(QueueName=f"{name}-{suffix}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        refs[name] = {"Ref": url, "Arn": arn, "QueueName": f"{name}-{suffix}"}
    for name, spec in resources("AWS::SecretsManager::Secret").items():
        generate = spec.get("Properties", {}).get("GenerateSecretString", {})
        length = int(generate.get("PasswordLength", 64))
        value = secrets.token_hex(length)[:length]
        arn = session.client("secretsmanager").create_secret(Name=f"{name}-{suffix}", SecretString=value)["ARN"]
        refs[name] = {"Ref": arn, "Arn": arn}
    _provision_cognito(session, refs, suffix)
    _provision_event_buses(session, refs, suffix)
    sender = parameter_defaults().get("EmailSender")
    if sender:
        session.client("ses").verify_email_identity(EmailAddress=sender)
    for name, spec in resources("AWS::SES::Template").items():
        parts = dict(spec["Properties"]["Template"])
        parts["TemplateName"] = f"{name}-{suffix}"
        session.client("ses").create_template(Template=parts)
        refs[name] = {"Ref": parts["TemplateName"]}
    return refs


def _provision_cognito(session: boto3.Session, refs: dict[str, dict[str, str]], suffix: str) -> None:
    """The couriers' user pool, its resource server (scopes) and app client, as the template has them.

    The client also allows the admin password flow, which only the local stack uses to mint tokens;
    each scope gets a pool group of the same name (see local/auth.py for why)."""
    refs["AWS::Region"] = {"Ref": session.region_name}
    refs["AWS::AccountId"] = {"Ref": ACCOUNT}
    refs["AWS::URLSuffix"] = {"Ref": "amazonaws.com"}
    for name in resources("AWS::Serverless::HttpApi"):
        # As API Gateway names an API (its id); the local stack serves it at its own URL (`api_urls`).
        refs[name] = {"Ref": f"{name}-{suffix}"}
    cognito = session.client("cognito-idp")
    for name in resources("AWS::Cognito::UserPool"):
        pool = cognito.create_user_pool(PoolName=f"{name}-{suffix}")["UserPool"]
        refs[name] = {
            "Ref": pool["Id"],
            "Arn": pool["Arn"],
            "ProviderName": f"cognito-idp.{session.region_name}.amazonaws.com/{pool['Id']}",
        }
    for spec in resources("AWS::Cognito::UserPoolResourceServer").values():
        props = spec["Properties"]
        pool_id = resolve(props["UserPoolId"], refs)
        cognito.create_resource_server(
            UserPoolId=pool_id, Identifier=props["Identifier"], Name=props["Name"], Scopes=props.get("Scopes", [])
        )
        for scope in props.get("Scopes", []):
            cognito.create_group(UserPoolId=pool_id, GroupName=f"{props['Identifier']}/{scope['ScopeName']}")
    for name, spec in resources("AWS::Cognito::UserPoolClient").items():
        props = spec["Properties"]
        client = cognito.create_user_pool_client(
            UserPoolId=resolve(props["UserPoolId"], refs),
            ClientName=props.get("ClientName", name),
            ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]
        refs[name] = {"Ref": client["ClientId"]}
    # The hosted UI's domain prefix: named so addresses built from it resolve (the local stack serves the
    # sign-in itself, at the courier app's own address).
    for name in resources("AWS::Cognito::UserPoolDomain"):
        refs[name] = {"Ref": f"{name.lower()}-{suffix}"}


def _provision_event_buses(session: boto3.Session, refs: dict[str, dict[str, str]], suffix: str) -> None:
    """The template's EventBridge buses, their archives and their rules with their targets."""
    events = session.client("events")
    for name in resources("AWS::Events::EventBus"):
        arn = events.create_event_bus(Name=f"{name}-{suffix}")["EventBusArn"]
        refs[name] = {"Ref": f"{name}-{suffix}", "Arn": arn, "Name": f"{name}-{suffix}"}
    for name, spec in resources("AWS::Events::Archive").items():
        props = spec["Properties"]
        arn = events.create_archive(
            ArchiveName=f"{name}-{suffix}",
            EventSourceArn=resolve(props["SourceArn"], refs),
            EventPattern=json.dumps(props.get("EventPattern", {})),
            RetentionDays=int(props.get("RetentionDays", 0)),
        )["ArchiveArn"]
        refs[name] = {"Ref": f"{name}-{suffix}", "Arn": arn}
    for name, spec in resources("AWS::Events::Rule").items():
        props = spec["Properties"]
        bus = resolve(props.get("EventBusName", "default"), refs)
        arn = events.put_rule(
            Name=f"{name}-{suffix}",
            EventBusName=bus,
            EventPattern=json.dumps(props["EventPattern"]),
            State=props.get("State", "ENABLED"),
        )["RuleArn"]
        targets = [{"Id": t["Id"], "Arn": resolve(t["Arn"], refs)} for t in props.get("Targets", [])]
        if targets:
            events.put_targets(Rule=f"{name}-{suffix}", EventBusName=bus, Targets=targets)
        refs[name] = {"Ref": f"{name}-{suffix}", "Arn": arn}


# How the template spells an HTTP API's own address; the local stack answers it with its own URL.
_API_URL = re.compile(r"https://\$\{(\w+)\}\.execute-api\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}")


def api_urls(refs: dict[str, dict[str, str]], url: str) -> None:
    """Every HTTP API of the template is served at `url` (the local stack's own address): what the
    template's `https://${Api}.execute-api...` then resolves to."""
    for name in resources("AWS::Serverless::HttpApi"):
        refs[name] = {**refs.get(name, {"Ref": name}), "Url": url}


def condition_holds(name: str, refs: dict[str, dict[str, str]]) -> bool:
    """One of the template's `Conditions`, with the parameters at their defaults."""
    return bool(_evaluate(template().get("Conditions", {})[name], refs))


def _evaluate(expression: Any, refs: dict[str, dict[str, str]]) -> Any:
    if isinstance(expression, dict) and len(expression) == 1:
        ((fn, arg),) = expression.items()
        if fn == "Fn::Not":
            return not _evaluate(arg[0], refs)
        if fn == "Fn::Equals":
            return str(_evaluate(arg[0], refs)) == str(_evaluate(arg[1], refs))
        if fn == "Fn::And":
            return all(_evaluate(a, refs) for a in arg)
        if fn == "Fn::Or":
            return any(_evaluate(a, refs) for a in arg)
        if fn == "Condition":
            return condition_holds(arg, refs)
        return resolve(expression, refs)
    return expression


def resolve(value: Any, refs: dict[str, dict[str, str]]) -> Any:
    """Resolve `Ref`, `Fn::GetAtt`, simple `Fn::Sub` and `Fn::If` against provisioned names, parameters
    and conditions."""
    params = parameter_defaults()
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            if arg in refs:
                return refs[arg]["Ref"]
            return params.get(arg, arg)
        if fn == "Fn::GetAtt":
            logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return refs.get(logical, {}).get(attribute, f"arn:aws:local:{logical}.{attribute}")
        if fn == "Fn::If":
            condition, when_true, when_false = arg
            return resolve(when_true if condition_holds(condition, refs) else when_false, refs)
        if fn == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            text = _API_URL.sub(lambda m: refs.get(m.group(1), {}).get("Url") or m.group(0), text)
            for name, spec in refs.items():
                text = text.replace("${" + name + "}", spec["Ref"])
            for name, default in params.items():
                text = text.replace("${" + name + "}", str(default))
            return text
    if isinstance(value, (dict, list)):
        return json.loads(json.dumps(value))
    return value


def function_environment(props: dict[str, Any], refs: dict[str, dict[str, str]]) -> dict[str, str]:
    variables = props.get("Environment", {}).get("Variables", {})
    return {name: str(resolve(value, refs)) for name, value in variables.items()}
