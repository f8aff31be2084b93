#!/usr/bin/env python3
"""Run the versioned evaluation cases (`evals/cases.json`) against a deployed stage, as a test user, through
the real invocation path (scripts/invoke.py's invocation), and gate on the pass rate.

    python scripts/evaluate.py                       # pipeline: INVOCATION_URL, USER_CLIENT_ID, USER_POOL_ID,
                                                     # AWS_REGION (the stage's outputs)
    python scripts/evaluate.py --stage staging       # by hand: what the environment leaves out comes from
                                                     # the outputs of <stage>-Runtime and <stage>-Identity
    python scripts/evaluate.py --local --user alice  # against `make local`

Against a deployed stage the test user is temporary (scripts/temporary_user.py, as in the smoke test): created
with the pool's admin APIs, bound to the case set's `customer_id`, given a random password only this process
holds, signed in through the user client, and deleted afterwards, also when a case or the run fails. No test
password is stored anywhere. Needs cognito-idp:AdminCreateUser, AdminSetUserPassword and AdminDeleteUser on
the stage's pool; with `--role-arn` (or AGENTCORE_STEP_ROLE_ARN: the pipeline's step for a stage in another
account) these calls are made as that role (scripts/step_role.py).

A case passes when the answer used its tool, contains every `must_contain` fact and none of the
`must_not_contain` phrases (case-insensitive). Each case runs in a new session. The report (`--report`) is
JSON for the pipeline's artifact.

Exit codes: 0 pass rate at or above the threshold, 6 below it, 2 bad cases file, arguments or environment,
3 the test user could not be created, signed in or deleted, 4 access denied, 5 network error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

if not __package__:  # `python scripts/evaluate.py`: the repository root makes `scripts.` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts import invoke, step_role, temporary_user

CASES = invoke.REPO_ROOT / "evals" / "cases.json"
BELOW_THRESHOLD = 6
USER_FAILED = 3
CASE_KEYS = {"id": str, "prompt": str, "tool": str, "must_contain": list, "must_not_contain": list}
DEFAULT_CUSTOMER = "CUST-001"  # lambdas/orders/seed.json: owner of the sample orders ORD-1001..1003
# environment variable -> (stack, output): as the pipeline passes them (stacks/pipeline_stack.py)
STAGE_OUTPUTS = {
    "INVOCATION_URL": ("Runtime", "InvocationUrl"),
    "USER_CLIENT_ID": ("Identity", "UserClientId"),
    "USER_POOL_ID": ("Identity", "UserPoolId"),
    "AWS_REGION": ("Identity", "Region"),
}


@dataclass
class Result:
    id: str
    passed: bool
    tools: list[str]
    problems: list[str] = field(default_factory=list)
    answer: str = ""


def load_cases(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The case set, validated: every case has every key with the right type, ids are unique."""
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise invoke.Failure(f"{path}: cannot read the cases ({error})", 2) from None
    cases = document.get("cases") if isinstance(document, dict) else None
    if not isinstance(cases, list) or not cases:
        raise invoke.Failure(f"{path}: expected a non-empty 'cases' list", 2)
    for index, case in enumerate(cases):
        for key, kind in CASE_KEYS.items():
            if not isinstance(case, dict) or not isinstance(case.get(key), kind):
                raise invoke.Failure(f"{path}: case {index} needs '{key}' ({kind.__name__})", 2)
    ids = [case["id"] for case in cases]
    if len(set(ids)) != len(ids):
        raise invoke.Failure(f"{path}: case ids must be unique", 2)
    threshold = document.get("pass_threshold", 1.0)
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not 0 <= threshold <= 1:
        raise invoke.Failure(f"{path}: 'pass_threshold' must be a number between 0 and 1", 2)
    customer = document.get("customer_id", DEFAULT_CUSTOMER)
    if not isinstance(customer, str) or not customer:
        raise invoke.Failure(f"{path}: 'customer_id' must be the customer id the test user is bound to", 2)
    return document, cases


def answer(url: str, prompt: str, token: str | None, timeout: float) -> tuple[str, list[str]]:
    """The answer text and the tools the agent used (unprefixed: `orders___get_order` -> `get_order`)."""
    text, tools = [], []
    with invoke.invoke(url, prompt, f"eval-{uuid.uuid4()}", token, timeout) as response:
        try:
            for event in invoke._sse_events(response):
                if isinstance(event, str):
                    text.append(event)
                elif isinstance(event, dict) and event.get("type") == "text":
                    text.append(str(event.get("text", "")))
                elif isinstance(event, dict) and event.get("type") == "tool":
                    tools.append(str(event.get("name", "")).split("___")[-1])
                elif isinstance(event, dict) and (event.get("type") == "error" or "error" in event):
                    text.append(f"[agent error: {event.get('message') or event.get('error')}]")
        except OSError as error:  # includes timeouts
            raise invoke.Failure(f"the answer stream broke off: {error}", 5) from None
    return "".join(text), tools


def judge(case: dict[str, Any], text: str, tools: list[str]) -> Result:
    lowered = text.lower()
    problems = (
        [] if case["tool"] in tools else [f"did not use {case['tool']} (used: {', '.join(tools) or 'none'})"]
    )
    problems += [f"missing fact {fact!r}" for fact in case["must_contain"] if fact.lower() not in lowered]
    problems += [f"said {phrase!r}" for phrase in case["must_not_contain"] if phrase.lower() in lowered]
    return Result(case["id"], not problems, tools, problems, text)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=Path, default=CASES)
    parser.add_argument("--threshold", type=float, help="override the case set's pass_threshold")
    parser.add_argument("--report", type=Path, help="write the results here (JSON)")
    parser.add_argument("--stage", help="read the stage's stack outputs for what the environment leaves out")
    parser.add_argument("--local", action="store_true", help="the `make local` stage")
    parser.add_argument("--user", help="with --local: the local user (default alice)")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--role-arn",
        help=f"assume this role for the stage's AWS calls (env {step_role.ENVIRONMENT}; another account)",
    )
    args = parser.parse_args(argv)
    if args.user is not None and not args.local:
        parser.error("--user needs --local (a deployed stage is evaluated as a temporary user)")
    if args.stage is not None and args.local:
        parser.error("--stage and --local exclude each other")
    if args.role_arn is not None and args.local:
        parser.error("--role-arn and --local exclude each other (the local stage has no roles)")
    return args


def stage_outputs(stage: str | None, environ: Mapping[str, str], client: step_role.Clients) -> dict[str, str]:
    """The stage's outputs from the environment, and with `stage` what is missing from its stacks."""
    values = {variable: environ.get(variable, "") for variable in STAGE_OUTPUTS}
    if stage:
        region = values["AWS_REGION"] or invoke.stage_region(stage)
        if not region:
            raise invoke.Failure(f"no region for stage {stage!r} (cdk.json names none): set AWS_REGION", 2)
        stacks: dict[str, dict[str, str]] = {}
        for variable, (suffix, output) in STAGE_OUTPUTS.items():
            name = f"{stage}-{suffix}"
            if not values[variable]:
                if name not in stacks:
                    cloudformation = client("cloudformation", region_name=region)
                    stacks[name] = invoke.stack_outputs(cloudformation, name)
                values[variable] = stacks[name].get(output, "")
    missing = [variable for variable, value in values.items() if not value]
    if missing and stage:
        raise invoke.Failure(
            f"the stacks of stage {stage} give no {', '.join(missing)} (Runtime/Identity outputs)", 2
        )
    if missing:
        raise invoke.Failure(f"set {', '.join(missing)} (the stage's outputs), or pass --stage or --local", 2)
    return values


def _cognito(target: invoke.Target, client: step_role.Clients) -> Any:
    """The stage's Cognito (signed: the temporary user needs admin calls), or the local issuer (unsigned)."""
    if target.cognito_endpoint:
        endpoint = {"endpoint_url": target.cognito_endpoint, **invoke._unsigned()}
        return client("cognito-idp", region_name=target.region, **endpoint)
    return client("cognito-idp", region_name=target.region)


def run_cases(
    cases: Sequence[dict[str, Any]], url: str, token: str, timeout: float, out: TextIO
) -> list[Result]:
    """Every case in its own session, one verdict line each as it comes."""
    results = []
    for case in cases:
        text, tools = answer(url, case["prompt"], token, timeout)
        results.append(judge(case, text, tools))
        verdict = "pass" if results[-1].passed else "FAIL: " + "; ".join(results[-1].problems)
        out.write(f"{case['id']}: {verdict}\n")
    return results


def _evaluate(
    args: argparse.Namespace, environ: Mapping[str, str], document: dict[str, Any],
    cases: list[dict[str, Any]], out: TextIO,
) -> list[Result]:  # fmt: skip
    """As the local stage's own user, or as a temporary customer of the stage that the run deletes."""
    if args.local:
        state_dir = invoke.REPO_ROOT / environ.get("LOCAL_STATE_DIR", ".local")
        target, (username, password) = invoke.local_target(state_dir / "stage.json", args.user)
        cognito = _cognito(target, step_role.clients(None, "agentcore-evaluate"))
        token = invoke.login(cognito, target.client_id or "", username, password, lambda _: "")
        return run_cases(cases, target.url, token, args.timeout, out)
    try:
        role = step_role.role_arn(args.role_arn, environ)
    except step_role.RoleArnError as error:
        raise invoke.Failure(str(error), 2) from None
    client = step_role.clients(role, "agentcore-evaluate")
    outputs = stage_outputs(args.stage, environ, client)
    target = invoke.Target(outputs["INVOCATION_URL"], outputs["AWS_REGION"], outputs["USER_CLIENT_ID"])
    cognito = _cognito(target, client)
    customer = document.get("customer_id", DEFAULT_CUSTOMER)
    try:
        with temporary_user.temporary_customer(
            cognito, outputs["USER_POOL_ID"], customer, prefix="eval"
        ) as user:
            token = temporary_user.access_token(cognito, outputs["USER_CLIENT_ID"], user)
            out.write(f"test user: a temporary customer linked to {customer}, deleted after the run\n")
            results = run_cases(cases, target.url, token, args.timeout, out)
    except temporary_user.UserError as error:
        raise invoke.Failure(str(error), USER_FAILED) from None
    out.write("test user deleted\n")
    return results


def main(
    argv: Sequence[str] | None = None, *, out: TextIO = sys.stdout, environ: Mapping[str, str] = os.environ
) -> int:
    args = parse_args(argv)
    try:
        document, cases = load_cases(args.cases)
        threshold = document.get("pass_threshold", 1.0) if args.threshold is None else args.threshold
        results = _evaluate(args, environ, document, cases, out)
    except invoke.Failure as failure:
        out.write(f"error: {failure}\n")
        return failure.code
    except KeyboardInterrupt:  # the temporary user is deleted on the way out
        out.write("interrupted\n")
        return 130
    rate = sum(r.passed for r in results) / len(results)
    gate = "passed" if rate >= threshold else "FAILED"
    out.write(f"evaluation {gate}: {rate:.0%} of {len(results)} cases (threshold {threshold:.0%}, "
              f"cases version {document.get('version')})\n")  # fmt: skip
    if args.report:
        report = {"version": document.get("version"), "threshold": threshold, "pass_rate": rate,
                  "results": [asdict(r) for r in results]}  # fmt: skip
        args.report.write_text(json.dumps(report, indent=2))
    return 0 if rate >= threshold else BELOW_THRESHOLD


if __name__ == "__main__":
    sys.exit(main())
