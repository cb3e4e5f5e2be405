"""What the functions tell operators: the one Powertools logger they all log with, and the metrics.

Logs and metrics never hold a code, an email address or a token: callers pass ids and outcomes only.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger()

# Deliveries of a shard still due an hour after their day ended (delivery_otp.rotation.late): an alarm.
ROTATION_LAG_METRIC = "RotationLag"


def count_courier_blocked() -> None:
    """A blocked courier is an operational signal (a stolen device, a brute-force attempt): measure it."""
    # Imported here: only the wrong guess that blocks a courier pays for the metrics machinery.
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name="CourierBlocked", unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="service", value="delivery-otp")


def publish_rotation_lag(late: int) -> None:
    """How many deliveries of a shard are still due an hour after their day ended, published on every run
    (0 included), so that silence means the rotation stopped. EMF in the log line: no request to AWS."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=ROTATION_LAG_METRIC, unit=MetricUnit.Count, value=late) as metric:
        metric.add_dimension(name="service", value="delivery-otp")
