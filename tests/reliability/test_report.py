"""The figures file and the README table made from it (offline, no service)."""

from __future__ import annotations

from tests.reliability import figures, report


def _figure(fault: str, **changes: object) -> figures.Figure:
    base = figures.Figure(fault=fault, load="24 calls", checked="complete | once", events_sent=95,
                          events_in_moysklad=23, calls_expected=23, duplicates=0, max_delay_s=3.456,
                          unfinished=0, result="pass")
    return {**base, **changes}  # type: ignore[return-value]


def test_a_fault_run_again_replaces_its_row(tmp_path):
    path = tmp_path / "results.json"
    figures.record(_figure("moysklad_5xx"), path)
    figures.record(_figure("moysklad_429"), path)
    figures.record(_figure("moysklad_5xx", duplicates=2, result="fail"), path)

    rows = figures.read(path)["rows"]
    assert [(r["fault"], r["duplicates"]) for r in rows] == [("moysklad_429", 0), ("moysklad_5xx", 2)]


def test_the_table_lists_faults_in_the_issues_order_with_their_figures(tmp_path):
    path = tmp_path / "results.json"
    figures.record(_figure("worker_sigkill"), path)
    figures.record(_figure("moysklad_slow", unfinished=2, events_in_moysklad=21, result="fail"), path)

    table = report.render(figures.read(path)).splitlines()
    assert table[0].startswith("| Fault | Load | What was checked | Events sent |")
    assert table[2] == "| moysklad_slow | 24 calls | complete \\| once | 95 | 21/23 | 0 | > 3.5 s | fail |"
    assert table[3].startswith("| worker_sigkill |") and table[3].endswith("| 23/23 | 0 | 3.5 s | pass |")


def test_no_figures_is_an_error_not_an_empty_table(tmp_path, capsys):
    assert report.main(["report", str(tmp_path / "missing.json")]) == 1
    assert "no figures" in capsys.readouterr().err
