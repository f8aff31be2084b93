"""`make local`'s threaded moto server: DynamoDB's moto model is prepared before its request threads start
(they would otherwise race on moto's lazy first use, see local/moto_models.py)."""

from __future__ import annotations

from local import dynamodb


def test_the_dynamodb_model_is_prepared_before_the_server_starts(monkeypatch, tmp_path):
    from moto.dynamodb.responses import DynamoResult

    # start() switches moto's DynamoDB answers to plain JSON for the process: undone after this test
    monkeypatch.setattr(DynamoResult, "execute_result", DynamoResult.execute_result)
    events = []
    monkeypatch.setattr(dynamodb, "prepare_services", lambda services: events.append(("prepare", services)))
    local = dynamodb.LocalDynamoDB(tmp_path, tables=[], region="us-east-1")
    monkeypatch.setattr(local._server, "start", lambda: events.append(("start", None)))
    monkeypatch.setattr(local, "client", lambda: None)  # no tables to create here

    local.start()

    assert events[:2] == [("prepare", ("dynamodb",)), ("start", None)]
