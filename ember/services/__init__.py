"""Built-in AWS services beside Lambda: one package each."""
