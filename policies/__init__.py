"""Cedar policies for the stage's AgentCore Policy engine (one statement per `*.cedar` file) and the offline
evaluator that tests and the local gateway double run them with."""
