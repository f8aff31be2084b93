"""The chat page: talk to the agent in a browser and see what each turn did.

`make local` serves it for the local stage (`local_stage.py`); `scripts/chat.py --stage <name>` serves it for
a deployed one. Either way a server on 127.0.0.1 (`server.py`) holds the user's access token, invokes the
agent with it and relays the answer stream to the page; the browser never sees the token.

Built as a few static files (`static/`: plain JavaScript modules and CSS, no build step), because the page is
small: a sign-in form, a conversation, a list of sessions, a timeline. A framework and a bundler would add a
Node toolchain, a lock file and a build output to review for a few hundred lines of DOM code; plain modules
need nothing but the browser, and every line served is a line in the repository.
"""
