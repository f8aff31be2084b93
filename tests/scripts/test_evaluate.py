"""scripts/evaluate.py against the local stage (real agent process, OIDC login, gateway on the real handlers,
scripted model): the versioned set passes, a set the agent cannot satisfy fails the gate. Against a deployed
stage's doubles (the Cognito users double with the real pre-token trigger, the runtime URL double): the run
signs in as a temporary customer it creates, and deletes it whatever happens."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.oidc_issuer import OidcIssuer
from tests.conftest import ROOT
from tests.doubles import recorded_clients
from tests.doubles.cloudformation import stubbed_cloudformation
from tests.doubles.cognito_users import CognitoUsers
from tests.doubles.runtime_endpoint import RuntimeEndpoint, running_runtime
from tests.local.launcher import start
from tests.ports import refused_port

sys.path.insert(0, str(ROOT / "scripts"))
import evaluate

REGION = "us-east-1"
USER_CLIENT = "eval-user-client"
POOL_ID = "us-east-1_EvalPool1"
ORDER_CASE = {
    "version": 7,
    "pass_threshold": 1.0,
    "customer_id": "CUST-002",
    "cases": [
        {"id": "order-status", "prompt": "Where is my order ORD-1004?", "tool": "get_order",
         "must_contain": ["ORD-1004", "SHIPPED"], "must_not_contain": ["error"]},
    ],
}  # fmt: skip
ANSWERED = [
    {"type": "tool", "name": "orders___get_order"},
    {"type": "text", "text": "Your order ORD-1004 is SHIPPED."},
    {"type": "end"},
]

FAILING = {
    "version": 1,
    "pass_threshold": 0.5,
    "cases": [
        {"id": "wrong-tool", "prompt": "Where is my order ORD-1001?", "tool": "cancel_order",
         "must_contain": ["ORD-1001"], "must_not_contain": []},
        {"id": "missing-fact", "prompt": "Is SKU-1001 in stock?", "tool": "check_stock",
         "must_contain": ["SKU-9999"], "must_not_contain": []},
        {"id": "forbidden-phrase", "prompt": "Where is my order ORD-1001?", "tool": "get_order",
         "must_contain": [], "must_not_contain": ["delivered"]},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def local_stage(tmp_path_factory, synthesized):
    state = tmp_path_factory.mktemp("eval-stage")
    running = start(state, CDK_OUT=str(synthesized.outdir))
    yield state
    running.interrupt()


def _run(state, *args):
    out = io.StringIO()
    code = evaluate.main(["--local", *args], out=out, environ={"LOCAL_STATE_DIR": str(state)})
    return code, out.getvalue()


def test_the_versioned_cases_pass_through_the_real_invocation_path(local_stage, tmp_path):
    code, out = _run(local_stage, "--report", str(tmp_path / "report.json"))
    assert code == 0, out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["pass_rate"] == 1.0 and report["version"] == 1
    assert all(r["passed"] and r["tools"] for r in report["results"])


def test_a_set_below_the_threshold_fails_the_gate(local_stage, tmp_path):
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps(FAILING))
    code, out = _run(local_stage, "--cases", str(cases), "--report", str(tmp_path / "report.json"))
    assert code == evaluate.BELOW_THRESHOLD, out
    assert "wrong-tool: FAIL: did not use cancel_order (used: get_order)" in out
    assert "missing-fact: FAIL: missing fact 'SKU-9999'" in out
    assert "forbidden-phrase: FAIL: said 'delivered'" in out
    assert "evaluation FAILED: 0% of 3 cases" in out
    # The same answers pass a threshold of zero: the gate, not the runner, decides.
    code, out = _run(local_stage, "--cases", str(cases), "--threshold", "0")
    assert code == 0


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"cases": []}, "expected a non-empty 'cases' list"),
        ({"cases": [{"id": "x", "prompt": "p"}]}, "case 0 needs 'tool'"),
        (
            {"pass_threshold": 2, "cases": FAILING["cases"]},
            "'pass_threshold' must be a number between 0 and 1",
        ),
    ],
)
def test_bad_case_files_are_one_line(tmp_path, document, message):
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps(document))
    code, out = _run(tmp_path, "--cases", str(cases))
    assert code == 2 and message in out and out.count("\n") == 1


@dataclass
class DeployedStage:
    """The deployed stage as the pipeline's evaluation step sees it: its outputs, its pool, its runtime."""

    runtime: RuntimeEndpoint
    cognito: CognitoUsers

    def environ(self, **overrides: str) -> dict[str, str]:
        return {"INVOCATION_URL": self.runtime.url, "USER_CLIENT_ID": USER_CLIENT, "USER_POOL_ID": POOL_ID,
                "AWS_REGION": REGION, **overrides}  # fmt: skip

    def tokens(self) -> list[dict]:
        """The claims of every bearer token the runtime received."""
        headers = [call["headers"]["authorization"] for call in self.runtime.calls]
        return [jwt.decode(h.removeprefix("Bearer "), options={"verify_signature": False}) for h in headers]


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[DeployedStage]:
    """evaluate.py's cognito-idp client is the users double (moto behind it for anything else)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws(), OidcIssuer() as issuer, running_runtime() as runtime:
        users = CognitoUsers(boto3.client("cognito-idp", region_name=REGION), issuer, USER_CLIENT)
        real_client = boto3.client
        monkeypatch.setattr(
            boto3,
            "client",
            lambda service, *a, **k: users if service == "cognito-idp" else real_client(service, *a, **k),
        )
        runtime.answer = ANSWERED
        yield DeployedStage(runtime, users)


def _run_deployed(stage: DeployedStage, tmp_path, document=ORDER_CASE, **environ: str) -> tuple[int, str]:
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps(document))
    out = io.StringIO()
    code = evaluate.main(["--cases", str(cases), "--timeout", "5"], out=out, environ=stage.environ(**environ))
    return code, out.getvalue()


def test_a_deployed_stage_is_evaluated_as_a_temporary_customer_that_is_then_deleted(deployed, tmp_path):
    code, out = _run_deployed(deployed, tmp_path)
    assert code == 0, out
    assert "order-status: pass" in out and "evaluation passed: 100% of 1 cases" in out
    # The case ran with the temporary user's own token, bound by the pre-token trigger to the set's customer.
    (claims,) = deployed.tokens()
    assert claims["customer_id"] == "CUST-002" and claims["role"] == "customer"
    (username,) = deployed.cognito.deleted
    assert username.startswith("eval-") and deployed.cognito.users == {}
    assert "test user deleted" in out


def test_a_pool_that_requires_mfa_gets_the_temporary_user_enrolled(deployed, tmp_path):
    deployed.cognito.mfa_required = True
    code, out = _run_deployed(deployed, tmp_path)
    assert code == 0, out
    assert len(deployed.cognito.deleted) == 1 and deployed.cognito.users == {}


@pytest.mark.parametrize(
    ("breakage", "code", "message"),
    [
        (
            "below-threshold",
            evaluate.BELOW_THRESHOLD,
            "order-status: FAIL: did not use get_order (used: none)",
        ),
        ("runtime-down", 5, "error: cannot reach 127.0.0.1:"),
        ("sign-in-refused", 3, "error: the temporary user cannot sign in: InvalidParameterException"),
        ("interrupted", 130, "interrupted"),
    ],
)
def test_the_temporary_user_is_deleted_whatever_fails(
    deployed, tmp_path, monkeypatch, breakage, code, message
):
    environ = {}
    if breakage == "below-threshold":
        deployed.runtime.answer = [{"type": "text", "text": "I cannot help with that."}]
    elif breakage == "runtime-down":
        environ["INVOCATION_URL"] = f"http://127.0.0.1:{refused_port()}/runtimes/x/invocations"
    elif breakage == "sign-in-refused":
        monkeypatch.setattr(deployed.cognito, "user_client_id", "another-client")
    else:
        monkeypatch.setattr(evaluate, "answer", lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    got, out = _run_deployed(deployed, tmp_path, **environ)
    assert got == code and message in out, out
    assert "Traceback" not in out
    (username,) = deployed.cognito.deleted
    assert username.startswith("eval-") and deployed.cognito.users == {}


def test_a_temporary_user_that_cannot_be_deleted_fails_the_run_and_names_it(deployed, tmp_path, monkeypatch):
    def refuse(**_):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "AdminDeleteUser")

    monkeypatch.setattr(deployed.cognito, "admin_delete_user", refuse)
    code, out = _run_deployed(deployed, tmp_path)
    (username,) = deployed.cognito.users
    assert code == 3 and f"error: cannot delete temporary user {username}: AccessDeniedException" in out, out


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"USER_POOL_ID": ""}, "error: set USER_POOL_ID (the stage's outputs), or pass --stage or --local"),
        ({"INVOCATION_URL": "", "AWS_REGION": ""}, "error: set INVOCATION_URL, AWS_REGION"),
    ],
)
def test_a_deployed_run_without_the_stage_outputs_is_one_line(deployed, tmp_path, environ, message):
    code, out = _run_deployed(deployed, tmp_path, **environ)
    assert code == 2 and message in out and out.count("\n") == 1
    assert deployed.cognito.deleted == [] and deployed.cognito.users == {}  # no user was created


def test_a_bad_customer_id_is_refused_before_any_user_exists(deployed, tmp_path):
    code, out = _run_deployed(deployed, tmp_path, {**ORDER_CASE, "customer_id": ""})
    assert code == 2 and "'customer_id' must be the customer id the test user is bound to" in out
    assert deployed.cognito.deleted == []


def test_user_without_local_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(["--user", "alice"], environ={})
    assert exit_.value.code == 2 and "--user needs --local" in capsys.readouterr().err


def test_with_a_stage_the_missing_outputs_come_from_its_stacks(deployed, tmp_path, monkeypatch):
    stacks = stubbed_cloudformation(
        {
            "staging-Runtime": {"InvocationUrl": deployed.runtime.url},
            "staging-Identity": {"UserClientId": USER_CLIENT, "UserPoolId": POOL_ID, "Region": REGION},
        }
    )
    patched = boto3.client
    monkeypatch.setattr(
        boto3,
        "client",
        lambda service, *a, **k: stacks if service == "cloudformation" else patched(service, *a, **k),
    )
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps(ORDER_CASE))
    out = io.StringIO()
    code = evaluate.main(["--stage", "staging", "--cases", str(cases)], out=out, environ={})
    assert code == 0, out.getvalue()
    assert len(deployed.runtime.calls) == 1 and len(deployed.cognito.deleted) == 1


def test_a_stage_whose_stacks_lack_an_output_is_one_line(monkeypatch, tmp_path):
    stacks = stubbed_cloudformation({"staging-Runtime": {}, "staging-Identity": {"Region": REGION}})
    monkeypatch.setattr(boto3, "client", lambda service, *a, **k: stacks)
    out = io.StringIO()
    assert evaluate.main(["--stage", "staging"], out=out, environ={}) == 2
    assert out.getvalue() == (
        "error: the stacks of stage staging give no INVOCATION_URL, USER_CLIENT_ID, USER_POOL_ID "
        "(Runtime/Identity outputs)\n"
    )


def test_a_stage_without_a_region_is_one_line(monkeypatch):
    monkeypatch.setattr(evaluate.invoke, "stage_region", lambda stage: None)  # a cdk.json naming no region
    out = io.StringIO()
    assert evaluate.main(["--stage", "qa"], out=out, environ={}) == 2
    assert out.getvalue() == "error: no region for stage 'qa' (cdk.json names none): set AWS_REGION\n"


def test_the_pipeline_runs_it_as_a_file_from_any_directory(tmp_path):
    """The pipeline runs `python scripts/evaluate.py`: it finds scripts.invoke and scripts.temporary_user."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "evaluate.py")],
        cwd=tmp_path, capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (2, "")
    assert done.stdout.startswith("error: set INVOCATION_URL, USER_CLIENT_ID, USER_POOL_ID, AWS_REGION")


def test_with_a_stage_role_the_cognito_client_is_made_as_that_role(deployed, tmp_path, monkeypatch):
    recorded = recorded_clients.record(monkeypatch)
    code, out = _run_deployed(deployed, tmp_path, AGENTCORE_STEP_ROLE_ARN=recorded_clients.ROLE)
    assert code == 0, out
    assert recorded.roles == [(recorded_clients.ROLE, "agentcore-evaluate")]
    assert recorded.services == ["cognito-idp"]  # the temporary user's admin calls; the outputs came in env


def test_a_step_role_that_is_not_a_role_arn_is_one_line(deployed, tmp_path):
    code, out = _run_deployed(deployed, tmp_path, AGENTCORE_STEP_ROLE_ARN="arn:aws:iam::12:role/x")
    assert code == 2 and not deployed.runtime.calls
    assert out == (
        "error: AGENTCORE_STEP_ROLE_ARN 'arn:aws:iam::12:role/x' is not an IAM role ARN "
        "(arn:aws:iam::<12-digit account>:role/<name>)\n"
    )
