"""A tiny CDK app shaped like ours (every stack inside a Stage), for testing the synth command itself.

`ANNOTATE_STAGE=<stage>` adds an error annotation to that stage's stack, as a failing construct check would.
"""

from __future__ import annotations

import os

import aws_cdk as cdk

app = cdk.App()
for name in ("first", "second"):
    stack = cdk.Stack(cdk.Stage(app, name), "Stack")
    cdk.CfnResource(stack, "Topic", type="AWS::SNS::Topic")
    if name == os.environ.get("ANNOTATE_STAGE"):
        cdk.Annotations.of(stack).add_error("injected error annotation")
app.synth()
