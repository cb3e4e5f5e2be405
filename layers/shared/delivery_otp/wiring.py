"""Which adapter serves each port: built lazily on first use and cached for the container's life.

Handlers ask for ``wiring.adapters().deliveries`` and so on; the tests and the local stack call
:func:`override` to put in a frozen clock or a failing store, and never patch the domain itself.
Each adapter is created only when first needed, so the verify path never builds the mailer.
The deliveries repository and the suppression list share one `table` (its client and batch reads).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from delivery_otp.adapters.deliveries import DeliveryRepository
    from delivery_otp.adapters.event_bus import EventBus
    from delivery_otp.adapters.queues import Queues
    from delivery_otp.adapters.secrets import CodeKeySource
    from delivery_otp.adapters.ses import Mailer
    from delivery_otp.adapters.suppression import SuppressionList
    from delivery_otp.adapters.table import Table
    from delivery_otp.adapters.webhook_http import HttpSender
    from delivery_otp.adapters.webhook_store import WebhookStore
    from delivery_otp.clock import Clock
    from delivery_otp.ssrf import Resolver


class Adapters:
    def __init__(self) -> None:
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()  # re-entered: building the deliveries builds the table they share

    def _get(self, name: str, factory: Any) -> Any:
        value = self._built.get(name)
        if value is None:
            with self._lock:
                value = self._built.get(name)
                if value is None:
                    value = factory()
                    self._built[name] = value
        return value

    def set(self, **adapters: Any) -> None:
        with self._lock:
            self._built.update(adapters)

    @property
    def clock(self) -> Clock:
        def build() -> Clock:
            from delivery_otp.clock import SystemClock

            return SystemClock()

        return self._get("clock", build)

    @property
    def table(self) -> Table:
        """The deliveries table, with the models bound to it first (see `model.bind`)."""

        def build() -> Table:
            from delivery_otp.adapters.table import Table
            from delivery_otp.config import settings
            from delivery_otp.model import bind

            configured = settings()
            bind(configured.table_name, host=configured.dynamodb_endpoint, region=configured.region)
            return Table(configured.table_name)

        return self._get("table", build)

    @property
    def deliveries(self) -> DeliveryRepository:
        def build() -> DeliveryRepository:
            from delivery_otp.adapters.deliveries import DeliveryRepository

            return DeliveryRepository(self.table)

        return self._get("deliveries", build)

    @property
    def suppression(self) -> SuppressionList:
        def build() -> SuppressionList:
            from delivery_otp.adapters.suppression import SuppressionList

            return SuppressionList(self.table, self.keys)

        return self._get("suppression", build)

    @property
    def keys(self) -> CodeKeySource:
        def build() -> CodeKeySource:
            from delivery_otp.adapters.secrets import SecretsManagerKeySource
            from delivery_otp.config import settings

            return SecretsManagerKeySource(settings().code_key_secret_id)

        return self._get("keys", build)

    @property
    def receipt_keys(self) -> CodeKeySource:
        """The seed of the receipt-signing key: only the storefront function is given its secret."""

        def build() -> CodeKeySource:
            from delivery_otp.adapters.secrets import SecretsManagerKeySource
            from delivery_otp.config import settings

            return SecretsManagerKeySource(settings().need("receipt_key_secret_id"))

        return self._get("receipt_keys", build)

    @property
    def event_bus(self) -> EventBus:
        """The stack's EventBridge bus: only the event publisher is given its name."""

        def build() -> EventBus:
            from delivery_otp.adapters.event_bus import EventBridgeBus
            from delivery_otp.config import settings

            return EventBridgeBus(settings().need("event_bus_name"))

        return self._get("event_bus", build)

    @property
    def mailer(self) -> Mailer:
        def build() -> Mailer:
            from delivery_otp.adapters.ses import SesMailer
            from delivery_otp.config import settings

            return SesMailer(settings().email_sender, settings().code_email_configuration_set)

        return self._get("mailer", build)

    @property
    def webhooks(self) -> WebhookStore:
        def build() -> WebhookStore:
            from delivery_otp.adapters.webhook_store import WebhookStore

            return WebhookStore(self.table)

        return self._get("webhooks", build)

    @property
    def webhook_keys(self) -> CodeKeySource:
        """The key webhook secrets are derived from: a secret of its own, read by the storefront (to show
        a secret) and the dispatcher (to sign), by no function that handles codes only."""

        def build() -> CodeKeySource:
            from delivery_otp.adapters.secrets import SecretsManagerKeySource
            from delivery_otp.config import settings

            return SecretsManagerKeySource(settings().need("webhook_secret_key_id"))

        return self._get("webhook_keys", build)

    @property
    def queues(self) -> Queues:
        def build() -> Queues:
            from delivery_otp.adapters.queues import Queues

            return Queues()

        return self._get("queues", build)

    @property
    def webhook_sender(self) -> HttpSender:
        def build() -> HttpSender:
            from delivery_otp.adapters.webhook_http import HttpSender

            return HttpSender()

        return self._get("webhook_sender", build)

    @property
    def resolver(self) -> Resolver:
        """Host names to addresses for the webhook URL guard (the tests put in their own)."""

        def build() -> Resolver:
            from delivery_otp.ssrf import system_resolver

            return system_resolver

        return self._get("resolver", build)


_adapters = Adapters()


def adapters() -> Adapters:
    return _adapters


def override(**replacements: Any) -> None:
    """Put in adapters by name (clock, table, deliveries, suppression, keys, mailer, event_bus, webhooks,
    queues, webhook_sender, resolver, ...): tests and the local stack only."""
    _adapters.set(**replacements)


def reset() -> None:
    """Forget every adapter (and the cached settings) so the next use builds them afresh."""
    global _adapters
    from delivery_otp.config import settings

    settings.cache_clear()
    _adapters = Adapters()
