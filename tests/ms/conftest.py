"""ms_plugin tests share the session's MoySklad emulator (``emulator``, fresh per test): tests/conftest.py."""
