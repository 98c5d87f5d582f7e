"""The drift alert on Azure is the rule the code and the local stand-in use: infra declares the
figures table with the columns the monitor writes, the alert query the stand-in evaluates, the action
group that calls /api/alerts with the common alert schema, and the role the monitor writes with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.monitoring.figures import COLUMNS, TABLE, alert_query, rule_name

pytestmark = pytest.mark.integration

INFRA = Path(__file__).resolve().parents[3] / "infra"
DRIFT = (INFRA / "app" / "drift.bicep").read_text()
EVENTS = (INFRA / "app" / "events.bicep").read_text()


def test_the_figures_table_and_its_stream_have_the_columns_the_monitor_writes():
    declared = re.findall(r"\{ name: '(\w+)', type: '(\w+)' \}", DRIFT)
    assert tuple(declared) == COLUMNS
    assert f"var tableName = '{TABLE}'" in DRIFT
    assert "'Custom-${tableName}'" in DRIFT and "kind: 'Direct'" in DRIFT


def test_the_alert_rule_runs_the_query_the_local_stand_in_evaluates_for_each_model():
    (query,) = re.findall(r"query: '(\$\{driftTableName\}[^']*)'", EVENTS)
    assert query.replace("${driftTableName}", TABLE).replace("${model}", "churn") == alert_query("churn")
    assert "name: '${model}-feature-drift'" in EVENTS and rule_name("churn") == "churn-feature-drift"
    assert f"param driftTableName string = '{TABLE}'" in EVENTS


def test_the_drift_alert_calls_api_alerts_with_the_common_schema_and_names_its_model():
    rule = EVENTS[EVENTS.index("resource driftAlerts") :]
    assert "actions: { actionGroups: [actionGroup.id], customProperties: { model: model } }" in rule
    assert "autoMitigate: true" in rule and "threshold: 0" in rule and "operator: 'GreaterThan'" in rule
    group = EVENTS[EVENTS.index("resource actionGroup") : EVENTS.index("resource endpointErrors")]
    assert "/api/alerts?code=" in group and "useCommonAlertSchema: true" in group


def test_the_app_identity_may_write_to_the_drift_rule_and_the_app_knows_where_it_is():
    rbac = (INFRA / "app" / "rbac.bicep").read_text()
    assignment = rbac[rbac.index("resource appDriftFigures") :]
    assert "scope: driftRule" in assignment.split("}\n}", 1)[0]
    assert "roles.monitoringMetricsPublisher" in assignment.split("}\n}", 1)[0]
    main = (INFRA / "main.bicep").read_text()
    assert "DRIFT_INGESTION_ENDPOINT: drift.outputs.ingestionEndpoint" in main
    assert "DRIFT_DCR_IMMUTABLE_ID: drift.outputs.ruleImmutableId" in main
