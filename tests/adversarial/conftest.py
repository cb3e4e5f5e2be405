"""The adversarial suite runs the real handlers against the same moto server set-up as the integration tier."""

from tests.integration.conftest import aws, clock, sent_mail, table  # noqa: F401 - fixtures shared with that tier
