"""GET /courier/ and GET /courier/{asset}: the courier's installable web app (page and static files)."""

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from delivery_otp import courier_app

ASSETS = Path(__file__).parent / "assets"


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return courier_app.answer(event, ASSETS)
