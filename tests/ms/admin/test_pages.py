"""The HTML pages: rendered for the right admin, hostile names escaped, no secrets, no external files."""

from __future__ import annotations

import re

from tests.factories import make_enterprise
from tests.ms.admin.helpers import ENT, HOSTILE_NAME, PASSWORD, configure

HTML_SINKS = re.compile(rb"\.(?:inner|outer)HTML\s*=|insertAdjacentHTML|document\.write|\beval\(")
EXTERNAL = re.compile(r'(?:src|href)="(?:https?:)?//', re.IGNORECASE)


def test_the_admin_page_escapes_a_hostile_enterprise_name(client, admin_headers, db_url):
    make_enterprise(db_url, ENT, name=HOSTILE_NAME)
    resp = client.get(f"/ms-admin/?enterprise_number={ENT}", headers=admin_headers)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "<script>window.__xss" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=&#34;" in html


def test_the_journal_page_escapes_the_name_and_the_filters(client, admin_headers, db_url):
    make_enterprise(db_url, ENT, name=HOSTILE_NAME)
    resp = client.get("/ms-admin/journal", query_string={"enterprise_number": ENT, "phone": '"><script>x()</script>'},
                      headers=admin_headers)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "<script>x()" not in html and "<script>window" not in html
    assert 'value="&#34;&gt;&lt;script&gt;x()&lt;/script&gt;"' in html


def test_the_chooser_lists_enterprises_with_escaped_names(client, admin_headers, db_url):
    make_enterprise(db_url, ENT, name=HOSTILE_NAME)
    make_enterprise(db_url, "0999", name="Второе")
    html = client.get("/ms/", headers=admin_headers).get_data(as_text=True)
    assert "<script>window" not in html
    assert f'href="/ms-admin/?enterprise_number={ENT}"' in html and "Второе" in html
    found = client.get("/ms/", query_string={"q": "Втор"}, headers=admin_headers).get_data(as_text=True)
    assert "Второе" in found and f"enterprise_number={ENT}" not in found


def test_pages_never_show_secrets_and_load_nothing_external(client, admin_headers, ent, account):
    configure(client, admin_headers, account, api_token="tok-" + "e" * 36)
    for path in (f"/ms-admin/?enterprise_number={ENT}", f"/ms-admin/journal?enterprise_number={ENT}", "/ms/"):
        resp = client.get(path, headers=admin_headers)
        html = resp.get_data(as_text=True)
        assert account["phone_key"] not in html and PASSWORD not in html and "e" * 36 not in html
        assert not EXTERNAL.search(html), path
        assert "onclick" not in html.lower() and "<script>" not in html
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_the_admin_page_shows_the_stable_webhook_url_and_secret_states(client, admin_headers, ent, account):
    configure(client, admin_headers, account)
    url = client.get(f"/ms-admin/config/{ENT}", headers=admin_headers).get_json()["webhook_url"]
    html = client.get(f"/ms-admin/?enterprise_number={ENT}", headers=admin_headers).get_data(as_text=True)
    assert f'value="{url}"' in html
    assert 'data-secret-state="integration_code">задан<' in html
    assert 'data-secret-state="api_token">не задан<' in html


def test_unknown_enterprise_page_is_404_and_missing_number_goes_to_the_chooser(client, admin_headers, ent):
    assert client.get("/ms-admin/?enterprise_number=4040", headers=admin_headers).status_code == 404
    resp = client.get("/ms-admin/", headers=admin_headers)
    assert resp.status_code == 302 and resp.headers["Location"] == "/ms/"


def test_static_files_are_served(client):
    for name in ("admin.css", "ms-common.js", "ms-settings.js", "ms-employees.js", "ms-stats.js", "ms-journal.js"):
        with client.get(f"/ms/static/ms/{name}") as resp:
            data = resp.get_data()
            assert resp.status_code == 200, name
        # Data reaches the page as text only: no HTML parsing sinks anywhere in the scripts.
        assert not HTML_SINKS.search(data), name
