"""Importable fakes shared by tests (``from tests.fakes.ami_server import FakeAmiServer``)."""
