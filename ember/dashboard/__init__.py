"""The web dashboard at /_ember/: static files that read Ember through its own APIs."""
