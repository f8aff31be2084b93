"""The browser options in the templates: the allowed sites reach the agent, and `browser_recording` gives the
stage's Browser a locked-down recordings bucket (KMS, TLS only, lifecycle, RETAIN in prod)."""

from __future__ import annotations

import json

from agentcore_agent.settings import Settings

from stacks.browser_recordings import RECORDINGS_PREFIX
from tests.stacks.test_agent_contract import DEPLOY_TIME


def _of_type(template, kind):
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _one(template, kind):
    (resource,) = _of_type(template, kind).values()
    return resource


def _environment(template):
    return _one(template, "AWS::BedrockAgentCore::Runtime")["Properties"]["EnvironmentVariables"]


def test_by_default_the_browser_records_nothing_and_the_tool_is_off(synthesized):
    for stage in ("dev", "prod"):
        runtime = synthesized.template(stage, "Runtime").to_json()
        assert _of_type(runtime, "AWS::S3::Bucket") == {}
        browser = _one(runtime, "AWS::BedrockAgentCore::BrowserCustom")["Properties"]
        assert browser.get("RecordingConfig", {"Enabled": False}) == {"Enabled": False}
        assert "BROWSER_ALLOWED_DOMAINS" not in _environment(runtime)


def test_the_allowed_sites_reach_the_agent_which_turns_the_tool_on(variant):
    environment = _environment(variant.template("dev", "Runtime"))
    assert environment["BROWSER_ALLOWED_DOMAINS"] == "docs.aws.amazon.com,*.example.com"
    resolved = {k: v if isinstance(v, str) else DEPLOY_TIME[k] for k, v in environment.items()}
    settings = Settings.from_env(resolved)
    assert settings.browser_enabled
    assert settings.browser_allowed_domains == ("docs.aws.amazon.com", "*.example.com")


def test_recordings_go_to_a_kms_encrypted_tls_only_expiring_bucket_of_the_stage(variant):
    runtime = variant.template("dev", "Runtime")
    ((bucket_id, bucket),) = _of_type(runtime, "AWS::S3::Bucket").items()
    props = bucket["Properties"]
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    key_id = encryption["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]
    assert runtime["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 7 and rule["Status"] == "Enabled"  # dev's log retention
    policy = _one(runtime, "AWS::S3::BucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy
    )
    browser = _one(runtime, "AWS::BedrockAgentCore::BrowserCustom")["Properties"]
    assert browser["RecordingConfig"] == {
        "Enabled": True,
        "S3Location": {"Bucket": {"Ref": bucket_id}, "Prefix": RECORDINGS_PREFIX},
    }
    assert bucket["DeletionPolicy"] == "Delete"  # dev: emptied and deleted with the stack
    assert _of_type(runtime, "Custom::S3AutoDeleteObjects")


def test_the_browser_may_write_only_recordings_and_use_only_their_key(variant):
    runtime = variant.template("dev", "Runtime")
    (bucket_id,) = _of_type(runtime, "AWS::S3::Bucket")
    role = [n for n in _of_type(runtime, "AWS::IAM::Policy") if n.startswith("BrowserServiceRole")]
    (policy,) = [runtime["Resources"][n]["Properties"]["PolicyDocument"]["Statement"] for n in role]
    text = json.dumps(policy)
    assert "s3:GetObject" not in text and "s3:Delete" not in text and '"*"' not in text
    for statement in policy:
        resource = json.dumps(statement["Resource"])
        if any(a.startswith("s3:") for a in statement["Action"]):
            assert bucket_id in resource and f"/{RECORDINGS_PREFIX}*" in resource
        else:
            assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
            assert "BrowserRecordingsKey" in resource


def test_prod_keeps_and_versions_its_recordings(variant):
    runtime = variant.template("prod", "Runtime")
    (bucket,) = _of_type(runtime, "AWS::S3::Bucket").values()
    assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 365
    assert not _of_type(runtime, "Custom::S3AutoDeleteObjects")
    keys = _of_type(runtime, "AWS::KMS::Key")
    (key,) = [r for n, r in keys.items() if n.startswith("BrowserRecordingsKey")]
    assert key["DeletionPolicy"] == "Retain"
