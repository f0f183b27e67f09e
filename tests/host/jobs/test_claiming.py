"""Claiming: fairness across tenants, one job per key, the per-tenant cap, against a real PostgreSQL.

Each test builds its own ``JobQueue`` with test-only job kinds (``t.*``), so the handlers of the loaded
plugins never run here. "Now" is PostgreSQL's clock: delays are checked as ``run_at - now()``.
"""
from __future__ import annotations



from tests.factories import sql
from tests.host.jobs.support import claim_all_at_once, make_queue


# ------------------------------------------------------------------------------------------ fairness


def test_a_flood_from_one_tenant_does_not_keep_another_tenants_job_from_the_first_batch(db, db_url, behaviour):
    queue = make_queue(db, behaviour)
    sql(db_url, "INSERT INTO jobs (integration, kind, enterprise_number, payload, run_at) "
                "SELECT 't', 't.work', 'A', '{}'::jsonb, now() - interval '1 minute' "
                "FROM generate_series(1, 500)")
    b_job = queue.enqueue("t.work", {}, enterprise_number="B")  # the newest job of all

    claimed = queue.claim(8, "worker-1")

    tenants = [row["enterprise_number"] for row in claimed]
    assert b_job in [row["id"] for row in claimed]
    assert tenants.count("A") <= queue.tenant_parallel


def test_claims_take_turns_across_tenants_before_any_tenant_gets_a_second_job(db, behaviour):
    queue = make_queue(db, behaviour)
    for ent in ("A", "A", "A", "B", "B", "C"):
        queue.enqueue("t.work", {}, enterprise_number=ent)

    claimed = queue.claim(3, "worker-1")

    assert sorted(row["enterprise_number"] for row in claimed) == ["A", "B", "C"]


# ------------------------------------------------------------------------------------ key exclusion


def test_jobs_with_the_same_key_are_claimed_one_at_a_time(db, behaviour):
    queue = make_queue(db, behaviour)
    first, second = (queue.enqueue("t.work", {"n": n}, enterprise_number="A", key="call-1") for n in (1, 2))
    other = queue.enqueue("t.work", {}, enterprise_number="A", key="call-2")

    batch = [row["id"] for row in queue.claim(10, "worker-1")]
    assert sorted(batch) == sorted([first, other])
    assert queue.claim(10, "worker-2") == []  # call-1 is running: its second job waits

    queue.finish(first, "worker-1")
    assert [row["id"] for row in queue.claim(10, "worker-2")] == [second]



def test_concurrent_claimers_never_run_two_jobs_of_one_key_at_once(db_url, four_workers):
    # Two events of one call stored by two workers at once: each worker's wake path claims its own
    # job by id, while the poll loops look at everything.
    queues = four_workers(tenant_parallel=50)
    for round_no in range(10):
        per_key = [[queues[0].enqueue("t.work", {}, enterprise_number=f"E{key % 2}", key=f"r{round_no}-k{key}")
                    for _ in range(2)] for key in range(5)]
        claim_all_at_once(queues, [[ids[0] for ids in per_key], [ids[1] for ids in per_key], None, None])
        doubled = sql(db_url, "SELECT key, count(*) FROM jobs WHERE state = 'running' "
                              "GROUP BY key HAVING count(*) > 1")
        assert doubled == [], f"round {round_no}: keys running twice: {doubled}"
        sql(db_url, "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL "
                    "WHERE state IN ('running', 'pending')")


# --------------------------------------------------------------------------------- per-tenant cap


def test_one_tenant_runs_at_most_tenant_parallel_jobs_of_an_integration_at_once(db, behaviour):
    queue = make_queue(db, behaviour, tenant_parallel=2)
    ids = [queue.enqueue("t.work", {}, enterprise_number="A") for _ in range(5)]
    b_id = queue.enqueue("t.work", {}, enterprise_number="B")

    first = [row["id"] for row in queue.claim(10, "worker-1")]
    assert sorted(first) == sorted(ids[:2] + [b_id])
    assert queue.claim(10, "worker-2") == []  # A is at its cap, across workers

    queue.finish(ids[0], "worker-1")
    assert [row["id"] for row in queue.claim(10, "worker-2")] == [ids[2]]


def test_the_cap_of_one_integration_does_not_hold_back_another_integration_of_the_tenant(db, behaviour):
    queue = make_queue(db, behaviour, tenant_parallel=1, integrations=("slow", "fast"))
    slow = queue.enqueue("slow.work", {}, enterprise_number="A")
    queue.enqueue("slow.work", {}, enterprise_number="A")
    fast = queue.enqueue("fast.work", {}, enterprise_number="A")

    assert sorted(row["id"] for row in queue.claim(10, "worker-1")) == sorted([slow, fast])


def test_a_full_background_lane_does_not_hold_back_the_main_lane_of_the_tenant(db, behaviour):
    queue = make_queue(db, behaviour, tenant_parallel=1)
    queue.register("t.slow", behaviour, integration="t", lane="background")
    slow = [queue.enqueue("t.slow", {}, enterprise_number="A") for _ in range(3)]
    assert [row["id"] for row in queue.claim(10, "worker-1")] == [slow[0]]  # the cap counts it...

    urgent = queue.enqueue("t.work", {}, enterprise_number="A")
    # ...in its own lane: the urgent job runs beside it, the other slow ones still wait.
    assert [row["id"] for row in queue.claim(10, "worker-2")] == [urgent]
    assert queue.claim(10, "worker-2") == []


def test_concurrent_claimers_keep_the_tenant_cap(db_url, four_workers):
    queues = four_workers(tenant_parallel=3)
    ids = [queues[0].enqueue("t.work", {}, enterprise_number="A") for _ in range(40)]

    claim_all_at_once(queues, [ids[0:10], ids[10:20], None, None])

    assert sql(db_url, "SELECT count(*) FROM jobs WHERE state = 'running'")[0][0] == 3
