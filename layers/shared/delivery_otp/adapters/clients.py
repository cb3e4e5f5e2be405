"""The functions' AWS clients, all made here with one configuration.

botocore builds its User-Agent header from a dozen sanitised components on every request, and then
once more after the request is created (to add the features the call used): ~100 us of a DynamoDB
call's ~380 us of client CPU, more than the whole verification adds on top of its one request. A
User-Agent given in the client's `Config` is sent as it is instead. It names this application, which
also makes the functions' calls easy to pick out in CloudTrail.

Parameter validation is off, as pynamodb has it for its own clients: every request here is built by
code from fixed expressions, and the service refuses a malformed one anyway.

botocore, not boto3: these are built on the verify path, where importing boto3 would add to the
cold start. All of them come from one botocore session (its service models and credentials loaded
once): a second client then costs ~2 ms instead of ~50 ms, which is the courier's first request on a
new container, when it makes the table's client and the code key's. botocore does not make clients
safely from several threads at once, hence the lock.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore

USER_AGENT = f"delivery-otp botocore/{botocore.__version__}"

_lock = threading.Lock()
_session: Any = None


def client(service: str, endpoint_url: str | None = None, region: str | None = None, **config: Any) -> Any:
    """A botocore client for `service` with the settings above; `config` adds to them (timeouts, retries)."""
    import botocore.session
    from botocore.config import Config

    global _session
    settings = Config(user_agent=USER_AGENT, parameter_validation=False, **config)
    with _lock:
        if _session is None:
            _session = botocore.session.get_session()
        return _session.create_client(service, region_name=region, endpoint_url=endpoint_url, config=settings)
