"""The CDK stacks of one AgentCore stage, its configuration and its compliance gates."""
