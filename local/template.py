"""Read ``template.yaml`` as data: the single source of truth for routes, tables, schedules and
event sources, for the local stack and the tests alike.

CloudFormation short-form tags (``!Ref``, ``!GetAtt``, ``!Sub`` ...) become their long-form dicts so
callers can resolve them against local resource names.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _multi(tag: str):
    def construct(loader: yaml.Loader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {tag: value}

    return construct


for _short in (
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
    "GetAtt",
    "Condition",
):
    _CfnLoader.add_constructor(f"!{_short}", _multi("Condition" if _short == "Condition" else f"Fn::{_short}"))
_CfnLoader.add_constructor("!Ref", _multi("Ref"))


def load_template(path: Path | str = TEMPLATE_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CfnLoader)


@cache
def template() -> dict[str, Any]:
    return load_template()


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    """Resources of the template, optionally only those of one CloudFormation/SAM type."""
    found = template().get("Resources", {})
    return {name: res for name, res in found.items() if kind is None or res.get("Type") == kind}


def functions() -> dict[str, dict[str, Any]]:
    """Every AWS::Serverless::Function with Globals.Function merged under its own properties."""
    glob = template().get("Globals", {}).get("Function", {})
    merged: dict[str, dict[str, Any]] = {}
    for name, res in resources("AWS::Serverless::Function").items():
        props = dict(glob)
        props.update(res.get("Properties", {}))
        env: dict[str, Any] = dict(glob.get("Environment", {}).get("Variables", {}))
        env.update(res.get("Properties", {}).get("Environment", {}).get("Variables", {}))
        props["Environment"] = {"Variables": env}
        merged[name] = props
    return merged


def http_route_events() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, function logical id, the event's Auth block) for every HttpApi event."""
    routes = []
    for name, props in functions().items():
        for event in props.get("Events", {}).values():
            if event.get("Type") == "HttpApi":
                ev = event.get("Properties", {})
                routes.append((ev["Method"].upper(), ev["Path"], name, ev.get("Auth", {})))
    return routes


def http_routes() -> list[tuple[str, str, str]]:
    """(method, path, function logical id) for every HttpApi event, as API Gateway would route them."""
    return [(method, path, name) for method, path, name, _ in http_route_events()]
