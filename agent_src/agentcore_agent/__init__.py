"""The Strands agent served by Amazon Bedrock AgentCore Runtime (`python -m agentcore_agent`)."""
