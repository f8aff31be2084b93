"""Every cdk-nag / Validations acknowledgment, read from the assembly's metadata where cdk records it.

CDK writes one `aws:cdk:acknowledged-rules` entry per acknowledgment on the construct it was made on
(`{"Annotation::<rule>": "<reason>"}`), so the assembly is the complete record whatever the source layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from review.assembly import Stack

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"
PREFIX = "Annotation::"


@dataclass(frozen=True)
class Acknowledgment:
    stack: str
    construct: str
    rule: str
    reason: str

    @property
    def pack(self) -> str:
        """The rule pack (`AwsSolutions`, `NIST.800.53.R5`, ...): the rule id up to its last `-`."""
        return self.rule.split("[", 1)[0].rsplit("-", 1)[0]


def acknowledgments(stack: Stack) -> list[Acknowledgment]:
    found = []
    for construct, entries in stack.metadata.items():
        for entry in entries:
            if entry.get("type") != ACKNOWLEDGED:
                continue
            for rule, reason in entry.get("data", {}).items():
                found.append(Acknowledgment(stack.id, construct, rule.removeprefix(PREFIX), str(reason)))
    return found
