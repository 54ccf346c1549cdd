"""The GPIO boundary for walk tests: gpiozero's MockFactory, as the driver tests use it."""

from tests.drivers.conftest import mock_factory

__all__ = ["mock_factory"]
