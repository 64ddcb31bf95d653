"""Plans from configuration: validated at start with errors that name the plan and field."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from billing.plans import plan_for_price, plan_free, plan_get, plans_load, plans_paid, plans_parse
from tests.billing.conftest import PLANS

ROOT = Path(__file__).resolve().parents[2]
PRO = PLANS[0]
WITHOUT_ROWS = {k: v for k, v in PRO.items() if k != "included_rows"}


def test_the_configured_plans_and_the_free_plan():
    assert [p.name for p in plans_load().values()] == ["free", "pro", "team"]
    free = plan_free()
    assert (free.connector_limit, free.included_rows, free.monthly_price_cents) == (3, 1_000_000, 0)
    assert free.is_free and not free.metered
    pro = plan_get("pro")
    assert pro.stripe_metered_price_id == "price_pro_rows" and pro.metered
    assert plan_get("team").stripe_metered_price_id == ""
    assert plan_get("nope") is None
    assert plan_for_price("price_team_monthly").name == "team"
    # A metered price rides beside a plan's own price; it names no plan.
    assert plan_for_price("price_pro_rows") is None
    assert plan_for_price("") is None
    assert [p.name for p in plans_paid()] == ["pro", "team"]


def test_plans_may_share_a_metered_price_and_leave_it_out():
    shared = {**PLANS[1], "stripe_metered_price_id": "price_pro_rows"}
    assert list(plans_parse([PRO, shared])) == ["free", "pro", "team"]
    assert list(plans_parse([{**PLANS[1], "stripe_metered_price_id": None}])) == ["free", "team"]


def test_no_plans_configured_leaves_the_free_plan(settings):
    settings.BILLING_PLANS = []
    assert list(plans_load()) == ["free"]


def test_free_limits_come_from_settings(settings):
    settings.BILLING_FREE_CONNECTOR_LIMIT = 1
    settings.BILLING_FREE_INCLUDED_ROWS = 10
    assert (plan_free().connector_limit, plan_free().included_rows) == (1, 10)


@pytest.mark.parametrize(
    ("plans", "message"),
    [
        ({"name": "pro"}, "must be a JSON list"),
        (["pro"], "plan #1: must be a JSON object"),
        ([{**PRO, "name": "Pro Plan"}], "name 'Pro Plan' must be"),
        ([WITHOUT_ROWS], "plan 'pro': missing included_rows"),
        ([{**PRO, "connector_limt": 3}], "unknown field connector_limt"),
        ([{**PRO, "connector_limit": "10"}], "connector_limit must be a whole number"),
        ([{**PRO, "monthly_price_cents": -1}], "monthly_price_cents must be a whole number"),
        ([{**PRO, "included_rows": 1.5}], "included_rows must be a whole number"),
        ([{**PRO, "stripe_price_id": ""}], "stripe_price_id must be a Stripe price id"),
        ([{**PRO, "name": "free"}], "the free plan is built in"),
        ([PRO, PRO], "the name is used by another plan"),
        ([PRO, {**PLANS[1], "stripe_price_id": "price_pro_monthly"}], "already used by 'pro'"),
        ([PRO, {**PLANS[1], "stripe_price_id": "price_pro_rows"}], "already used by 'pro'"),
        ([PRO, {**PLANS[1], "stripe_metered_price_id": "price_pro_monthly"}], "used by 'pro'"),
        ([{**PRO, "stripe_metered_price_id": "price_pro_monthly"}], "is its stripe_price_id"),
    ],
)
def test_invalid_plans_are_refused_with_a_clear_error(plans, message):
    with pytest.raises(ImproperlyConfigured, match="BILLING_PLANS") as raised:
        plans_parse(plans)
    assert message in str(raised.value)


def _start(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = (
        "import django; django.setup(); "
        "from billing.plans import plans_load; print(sorted(plans_load()))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "landed.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_plans_are_read_from_a_file_at_start(tmp_path):
    path = tmp_path / "plans.json"
    path.write_text(json.dumps(PLANS))
    started = _start({"BILLING_PLANS_FILE": str(path), "BILLING_PLANS": ""})
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "['free', 'pro', 'team']"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BILLING_PLANS": "[{"}, "BILLING_PLANS is not readable JSON"),
        ({"BILLING_PLANS_FILE": "/nonexistent/plans.json"}, "BILLING_PLANS_FILE is not readable"),
        ({"BILLING_PLANS": json.dumps([{**PRO, "connector_limit": -1}])}, "plan 'pro'"),
    ],
)
def test_a_bad_configuration_stops_the_server_at_start(env, message):
    started = _start(env)
    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr and message in started.stderr
