"""The invoke path: execution environments, the scheduler that pools them, the invoker."""
