"""The local stage is built from the synthesized dev stage: its Runtime environment contract and tables."""

from __future__ import annotations

import pytest

from local import dev_stage
from local.stage import OFF_LOCALLY


def test_every_variable_the_dev_runtime_sets_is_given_a_local_value_or_is_off(synthesized):
    stage = dev_stage.load(synthesized.outdir)
    deploy_time = {name for name, value in stage.runtime_environment.items() if not isinstance(value, str)}
    local = {"OIDC_DISCOVERY_URL", "ALLOWED_CLIENTS", "MEMORY_ID", "GATEWAY_URL", *stage.agent_tables}
    assert (
        deploy_time == local | OFF_LOCALLY
    )  # a new deploy-time setting fails here until the local stage has it
    environment = stage.agent_environment(dict.fromkeys(local, "x"), OFF_LOCALLY)
    assert set(environment) == set(stage.runtime_environment) - OFF_LOCALLY
    assert environment["MODEL_ID"] == stage.runtime_environment["MODEL_ID"]
    with pytest.raises(dev_stage.DevStageError, match="GATEWAY_URL"):
        stage.agent_environment(dict.fromkeys(local - {"GATEWAY_URL"}, "x"), OFF_LOCALLY)


def test_tables_and_function_environment_are_the_declared_ones(synthesized):
    stage = dev_stage.load(synthesized.outdir)
    by_var = {table.env_var: table for table in stage.tables}
    assert set(by_var) == {"ORDERS_TABLE_NAME", "INVENTORY_TABLE_NAME", "TOKEN_BUDGET_TABLE"}
    orders = by_var["ORDERS_TABLE_NAME"].definition
    assert orders["KeySchema"] == [{"AttributeName": "order_id", "KeyType": "HASH"}]
    assert {index["IndexName"] for index in orders["GlobalSecondaryIndexes"]} == {"by_customer", "by_status"}
    assert stage.function_environment["ORDERS_TABLE_NAME"] == by_var["ORDERS_TABLE_NAME"].name


def test_a_missing_synthesis_names_the_command(tmp_path):
    with pytest.raises(dev_stage.DevStageError, match="make synth STAGE=dev"):
        dev_stage.load(tmp_path)


def test_the_runtimes_own_table_comes_from_the_usage_stacks_output(synthesized):
    """The token-usage table is named to the Runtime through another stack's output (Fn::GetStackOutput):
    the local stage creates it as declared and gives the agent its local name."""
    stage = dev_stage.load(synthesized.outdir)
    assert stage.agent_tables == {"TOKEN_BUDGET_TABLE": "dev-token-budget"}
    (usage,) = [table for table in stage.tables if table.env_var == "TOKEN_BUDGET_TABLE"]
    assert usage.definition["KeySchema"] == [{"AttributeName": "usage_key", "KeyType": "HASH"}]
    assert "TOKEN_BUDGET_TABLE" not in stage.function_environment
