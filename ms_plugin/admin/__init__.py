"""The admin page of the MoySklad integration and its JSON API (``/ms/``, ``/ms-admin/...``).

Wired by :mod:`ms_plugin.admin.wiring`; views are thin (schema -> service -> JSON), services take the
plugin state, SQL lives in ``*_repo`` modules that take ``conn`` first.
"""
