"""What the functions tell operators: the one Powertools logger they all log with, and the metrics.

Logs and metrics never hold a code, an email address or a token: callers pass ids and outcomes only.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger()


def count_courier_blocked() -> None:
    """A blocked courier is an operational signal (a stolen device, a brute-force attempt): measure it."""
    # Imported here: only the wrong guess that blocks a courier pays for the metrics machinery.
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name="CourierBlocked", unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="service", value="delivery-otp")
