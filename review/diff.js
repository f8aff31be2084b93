#!/usr/bin/env node
// Diffs stack templates with the CDK's own diff engine (@aws-cdk/cloudformation-diff, pinned in
// package.json), so `make review BASE=` reports exactly what `cdk diff` would.
//
// Input (argv[2], a JSON file): [{"id", "old": <template path>|null, "new": <template path>|null, "paths"}]
// where paths maps logical ids to construct paths (for the rendering).
// Output (stdout, JSON): one entry per input with the IAM statement changes (rendered for the table, and as
// targets and conditions for review/iam_changes.py, which decides whether they broaden or narrow), every
// resource change with its impact and changed properties, and the engine's own rendering of the whole diff
// (no colours).
'use strict';

const fs = require('fs');
const chalk = require('chalk');
const { fullDiff, formatDifferences } = require('@aws-cdk/cloudformation-diff');

chalk.level = 0;

function readTemplate(path) {
  return path ? JSON.parse(fs.readFileSync(path, 'utf8')) : {};
}

function targets(target) {
  return { not: target.not, values: target.values };
}

function statements(list) {
  return list.map((statement) => ({
    ...statement.render(),
    sid: statement.sid || null,
    // Effect 'Unknown': the statement is an intrinsic (e.g. Fn::If) the engine cannot read.
    parsed: {
      effect: statement.effect,
      actions: targets(statement.actions),
      resources: targets(statement.resources),
      principals: targets(statement.principals),
      condition: statement.condition || null,
    },
  }));
}

function resourceChanges(diff) {
  const changes = [];
  diff.resources.forEachDifference((logicalId, change) => {
    if (!change.isDifferent) return;
    const properties = {};
    for (const [name, property] of Object.entries(change.propertyUpdates)) {
      properties[name] = property.changeImpact || null;
    }
    const other = Object.keys(change.otherChanges);
    changes.push({
      logicalId,
      type: change.resourceType || null,
      impact: change.changeImpact,
      added: change.isAddition,
      removed: change.isRemoval,
      properties,
      other,
      oldDeletionPolicy: (change.oldValue && change.oldValue.DeletionPolicy) || null,
      newDeletionPolicy: (change.newValue && change.newValue.DeletionPolicy) || null,
    });
  });
  return changes;
}

function render(diff, paths) {
  let text = '';
  const stream = { write: (chunk) => { text += chunk; return true; }, columns: 120 };
  formatDifferences(stream, diff, paths || {});
  return text;
}

function main() {
  const stacks = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const results = stacks.map((stack) => {
    const diff = fullDiff(readTemplate(stack.old), readTemplate(stack.new));
    return {
      id: stack.id,
      empty: diff.isEmpty,
      securityGroupRulesAdded: diff.securityGroupChanges.rulesAdded,
      statementsAdded: statements(diff.iamChanges.statements.additions),
      statementsRemoved: statements(diff.iamChanges.statements.removals),
      managedPoliciesAdded: diff.iamChanges.managedPolicies.additions.map((p) => p.managedPolicyArn),
      managedPoliciesRemoved: diff.iamChanges.managedPolicies.removals.map((p) => p.managedPolicyArn),
      resources: resourceChanges(diff),
      outputs: diff.outputs.logicalIds.filter((id) => diff.outputs.get(id).isDifferent),
      text: diff.isEmpty ? '' : render(diff, stack.paths),
    };
  });
  process.stdout.write(JSON.stringify(results));
}

main();
