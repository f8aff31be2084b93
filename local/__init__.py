"""The local stage: emulators of the AgentCore services, used by `make local` and by the end-to-end tests.

One set of emulators, not two: every module here speaks the real wire format (OIDC discovery + JWKS, the
Identity and Memory REST-JSON data planes, MCP streamable HTTP in front of the real Lambda handlers, the
Converse stream), so the real agent, SDKs and handlers run unchanged against them.
"""
