"""Language runtimes: which Lambda runtime names Ember runs, and how to start each."""
